"""Omitted inputs and outputs (ONNX writes '' for an absent optional one; trailing ones may be left off).

'' names no tensor: a required input written as '' is the node's error, and an optional one is read as absent
everywhere (handlers, shape pass, fusions, the NCHWc pass), never looked up as if it were a tensor.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from graph import NodeError, extract_layers
from graph.context import GraphContext
from graph.inputs import fix_input_shapes
from graph.kernels import ORT_CPU_AVX2, extract_kernels
from graph.loading import load_model
from graph.records import ConvLayer, OtherLayer, RecurrentLayer, UnmodeledNode
from graph.views import input_at, present

_RNG = np.random.default_rng(0)
BLOCKED = (1, 16, 8, 8)  # 16 channels: a Conv of it runs in NCHWc under AVX2's rules (blocks of 8)


def _tensor(name: str, values) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(values), name)


def _after_conv(nodes, initializers=(), outputs=("y",), domains=()) -> onnx.ModelProto:
    """x (1,16,8,8) -> Conv 3x3 (16 -> 16, pads 1) -> c, then `nodes`."""
    conv = helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    weights = [_tensor("w", _RNG.standard_normal((16, 16, 3, 3)).astype(np.float32)),
               _tensor("b", np.zeros(16, np.float32))]
    graph = helper.make_graph([conv, *nodes], "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, BLOCKED)],
                              [helper.make_tensor_value_info(name, TensorProto.UNDEFINED, None) for name in outputs],
                              [*weights, *initializers])
    opsets = [helper.make_opsetid("", 17), *(helper.make_opsetid(domain, 1) for domain in domains)]
    return helper.make_model(graph, opset_imports=opsets)


def _kernels(model) -> list[tuple[str, str, str]]:
    return [(k.op_type, k.layout, k.activation) for k in extract_kernels(model, ORT_CPU_AVX2).kernels]


def _layer(model, op_type: str):
    return next(layer for layer in extract_layers(model).layers if layer.op_type == op_type)


SIX = _tensor("six", np.array(6.0, np.float32))


# --------------------------------------------------------------------------- the helpers


def test_present_drops_omitted_names_and_input_at_reads_them_as_empty():
    assert present(["x", "", "w", ""]) == ["x", "w"]
    assert [input_at(("x", "", "w"), position) for position in (0, 1, 2, 3, -1)] == ["x", "", "w", "", ""]


def test_graph_context_indexes_no_empty_name():
    lstm = helper.make_node("LSTM", ["c3", "lw", "lr", "", "", "h0"], ["", "h", ""], hidden_size=4)
    reshape = helper.make_node("Reshape", ["c", "to3"], ["c3"])
    model = _after_conv([reshape, lstm], [_tensor("to3", np.array([16, 8, 8], np.int64)),
                                          _tensor("lw", np.zeros((1, 16, 8), np.float32)),
                                          _tensor("lr", np.zeros((1, 16, 4), np.float32)),
                                          _tensor("h0", np.zeros((1, 8, 4), np.float32))], outputs=("h",))
    loaded = load_model(model)
    ctx = GraphContext.from_shaped(fix_input_shapes(loaded, None, None, None), loaded.label, 17)
    for index in (ctx.shapes, ctx.elem_types, ctx.constants, ctx.consumers, ctx.producers):
        assert "" not in index
    assert ctx.producer_op("") == "" and ctx.shape("") is None and not ctx.is_constant("")


# --------------------------------------------------------------------------- required inputs written as ''


@pytest.mark.parametrize(("node", "position"), [
    (helper.make_node("Add", ["", "c"], ["y"], name="hollow"), 0),
    (helper.make_node("Clip", ["", "c"], ["y"], name="hollow"), 0),
    (helper.make_node("Conv", ["", "w"], ["y"], name="hollow"), 0),
    (helper.make_node("BatchNormalization", ["c", "b", "", "b", "b"], ["y"], name="hollow"), 2),
    (helper.make_node("Concat", ["c", "", "c"], ["y"], name="hollow", axis=1), 1),
    (helper.make_node("Sum", ["c", "", "c"], ["y"], name="hollow"), 1),
], ids=["Add-A", "Clip-X", "Conv-X", "BatchNormalization-B", "Concat", "Sum"])
@pytest.mark.parametrize("read", ["layers", "kernels"])
def test_an_omitted_required_or_variadic_input_is_the_nodes_error(node, position, read):
    """ONNX Runtime refuses the first kind at load and fails (Concat) or crashes (Sum) on the second."""
    model = _after_conv([node])
    with pytest.raises(NodeError) as caught:
        extract_layers(model) if read == "layers" else extract_kernels(model, ORT_CPU_AVX2)
    message = str(caught.value)
    assert "\n" not in message and "'hollow'" in message and f"input {position} is missing" in message, message


# --------------------------------------------------------------------------- custom domains: no schema, same rule


@pytest.mark.parametrize("node", [
    helper.make_node("Add", ["", "c"], ["y"], domain="com.microsoft"),
    helper.make_node("Add", ["c", ""], ["y"], domain="com.microsoft"),
    helper.make_node("Sum", ["c", "", "c"], ["y"], domain="com.microsoft"),
    helper.make_node("Concat", ["c", "", "c"], ["y"], domain="com.microsoft", axis=1),
], ids=["Add-A", "Add-B", "Sum", "Concat"])
def test_a_custom_elementwise_op_with_an_omitted_operand_stays_out_of_the_nchwc_region(node):
    """ONNX's schemas do not cover com.microsoft, so nothing refuses these; the NCHWc pass leaves the op as it is
    (it used to look '' up among the blocked tensors: KeyError)."""
    model = _after_conv([node], domains=("com.microsoft",))
    found = extract_kernels(model, ORT_CPU_AVX2)
    assert [(k.op_type, k.layout, k.activation) for k in found.kernels] == [
        ("ReorderInput", "nchwc", ""), ("Conv", "nchwc", ""), ("ReorderOutput", "nchw", "")]
    assert [(u.op_type, u.reason) for u in found.unmodeled] == [
        (node.op_type, "op of custom domain 'com.microsoft' is not modeled")]


@pytest.mark.parametrize("op_type", ["MaxPool", "Relu", "Transpose", "Erf", "HardSwish", "MatMul"])
def test_a_custom_op_without_inputs_is_unmodeled_not_a_crash(op_type):
    """com.microsoft ops run under their plain names in the kernel passes, which read inputs by position."""
    model = _after_conv([helper.make_node(op_type, [], ["y"], domain="com.microsoft")], domains=("com.microsoft",))
    found = extract_kernels(model, ORT_CPU_AVX2)
    assert [u.op_type for u in found.unmodeled] == [op_type]
    assert ("Conv", "nchwc", "") in [(k.op_type, k.layout, k.activation) for k in found.kernels]


# --------------------------------------------------------------------------- optional inputs written as ''


def test_clip_without_min_joins_the_blocked_conv_and_keeps_its_input_positions():
    model = _after_conv([helper.make_node("Clip", ["c", "", "six"], ["y"])], [SIX])
    assert _kernels(model) == [("ReorderInput", "nchwc", ""), ("Conv", "nchwc", "Clip"), ("ReorderOutput", "nchw", "")]
    clip = _layer(model, "Clip")
    assert isinstance(clip, OtherLayer)
    assert clip.input_shapes == (BLOCKED, None, ()) and clip.constant_inputs == ((2, (6.0,)),)


def test_an_identity_with_its_output_omitted_hands_no_tensor_to_omitted_inputs():
    """Eliminating Identity renames its output to its input; '' renamed to 'x' made Clip's absent min read x."""
    model = _after_conv([helper.make_node("Identity", ["x"], [""]), helper.make_node("Clip", ["c", "", "six"], ["y"])],
                        [SIX])
    assert _kernels(model) == [("ReorderInput", "nchwc", ""), ("Conv", "nchwc", "Clip"), ("ReorderOutput", "nchw", "")]


def test_common_subexpressions_never_rename_an_omitted_output():
    """Two MaxPools on one input, the second without Indices: merging them must not give '' the first's Indices."""
    first = helper.make_node("MaxPool", ["c"], ["p1", "i1"], kernel_shape=[2, 2], strides=[2, 2])
    second = helper.make_node("MaxPool", ["c"], ["p2", ""], kernel_shape=[2, 2], strides=[2, 2])
    clip = helper.make_node("Clip", ["p2", "", "six"], ["y"], name="clip")
    found = extract_kernels(_after_conv([first, second, clip], [SIX]), ORT_CPU_AVX2)
    assert [k.sources for k in found.kernels if k.op_type == "MaxPool"] == [("MaxPool_1", "MaxPool_2")]
    record = next(k.layer for k in found.kernels if k.layer.name == "clip")
    assert record.input_shapes == ((1, 16, 4, 4), ())  # X and max: no Indices tensor in min's place



@pytest.mark.parametrize("op_type", ["Add", "Mul"])
def test_a_binary_op_with_a_trailing_omitted_input_is_read_by_its_two_operands(op_type):
    """Add(c, zero, '') is Add(c, zero): a trailing '' is no input (long fuzz run, seed 0: the no-op test unpacked
    all three names and raised ValueError)."""
    neutral = _tensor("neutral", np.array(0.0 if op_type == "Add" else 1.0, np.float32))
    model = _after_conv([helper.make_node(op_type, ["c", "neutral", ""], ["y"])], [neutral])
    assert _kernels(model) == [("ReorderInput", "nchwc", ""), ("Conv", "nchwc", ""), ("ReorderOutput", "nchw", "")]
    assert _layer(model, op_type).input_shapes == (BLOCKED, (), None)

@pytest.mark.parametrize(("inputs", "initializers"), [
    (["c", "", "scales"], [_tensor("scales", np.array([1, 1, 2, 2], np.float32))]),
    (["c", "", "", "sizes"], [_tensor("sizes", np.array([1, 16, 16, 16], np.int64))]),
], ids=["scales", "sizes"])
def test_resize_without_roi_or_scales_is_a_blocked_upsample(inputs, initializers):
    node = helper.make_node("Resize", inputs, ["y"], mode="nearest", coordinate_transformation_mode="asymmetric",
                            nearest_mode="floor")
    model = _after_conv([node], initializers)
    assert _kernels(model) == [("ReorderInput", "nchwc", ""), ("Conv", "nchwc", ""), ("Upsample", "nchwc", ""),
                               ("ReorderOutput", "nchw", "")]
    resize = _layer(model, "Resize")
    assert resize.output_shapes == ((1, 16, 16, 16),) and resize.input_shapes[1] is None


def test_pad_without_constant_value():
    pads = _tensor("pads", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64))
    model = _after_conv([helper.make_node("Pad", ["c", "pads", ""], ["y"])], [pads])
    pad = _layer(model, "Pad")
    assert pad.input_shapes == (BLOCKED, (8,), None) and pad.output_shapes == ((1, 16, 10, 10),)
    assert _kernels(model)[-1] == ("Pad", "nchw", "")


@pytest.mark.parametrize(("inputs", "outputs", "has_bias"), [
    (["c3", "lw", "lr"], ["y"], False),  # trailing optional inputs left off
    (["c3", "lw", "lr", "", "", "h0"], ["", "y"], False),  # B and sequence_lens written as '', Y omitted
    (["c3", "lw", "lr", "lb", "", "h0", ""], ["y", "", ""], True),
], ids=["trailing-left-off", "empty-B-and-Y", "empty-sequence-lens"])
def test_lstm_with_omitted_inputs_and_outputs(inputs, outputs, has_bias):
    reshape = helper.make_node("Reshape", ["c", "to3"], ["c3"])
    lstm = helper.make_node("LSTM", inputs, outputs, name="lstm", hidden_size=4)
    initializers = [_tensor("to3", np.array([16, 8, 8], np.int64)), _tensor("lw", np.zeros((1, 16, 8), np.float32)),
                    _tensor("lr", np.zeros((1, 16, 4), np.float32)), _tensor("lb", np.zeros((1, 32), np.float32)),
                    _tensor("h0", np.zeros((1, 8, 4), np.float32))]
    model = _after_conv([reshape, lstm], initializers)
    layer = _layer(model, "LSTM")
    assert isinstance(layer, RecurrentLayer)
    assert (layer.sequence_length, layer.rows, layer.input_features, layer.hidden, layer.has_bias) == (16, 8, 8, 4,
                                                                                                         has_bias)
    kernels = extract_kernels(model, ORT_CPU_AVX2)
    assert not kernels.unmodeled and "LSTM" in [k.op_type for k in kernels.kernels]


def test_conv_without_bias():
    node = helper.make_node("Conv", ["c", "w", ""], ["y"], name="unbiased", kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    model = _after_conv([node])
    layer = next(layer for layer in extract_layers(model).layers if layer.name == "unbiased")
    assert isinstance(layer, ConvLayer) and not layer.has_bias
    assert _kernels(model) == [("ReorderInput", "nchwc", ""), ("Conv", "nchwc", ""), ("Conv", "nchwc", ""),
                               ("ReorderOutput", "nchw", "")]


def test_no_layer_or_kernel_is_unmodeled_for_want_of_an_omitted_input():
    model = _after_conv([helper.make_node("Clip", ["c", "", "six"], ["y"])], [SIX])
    assert not any(isinstance(item, UnmodeledNode) for item in extract_layers(model).unmodeled)
