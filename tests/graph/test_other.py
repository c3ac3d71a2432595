"""Every other compute node -> OtherLayer; node names and graph positions."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper, numpy_helper

from graph import OtherLayer, extract_layers, layers_to_frame
from graph.frames import broadcast_spans, inner_elements, parse_shapes


def test_relu(make_model):
    node = helper.make_node("Relu", ["x"], ["y"], name="relu")
    (layer,) = extract_layers(make_model([node], {"x": (1, 3, 4, 4)})).layers
    assert isinstance(layer, OtherLayer)
    assert layer.layer_type == "other"
    assert layer.op_type == "Relu"
    assert layer.input_elements == 48
    assert layer.output_elements == 48
    assert layer.num_inputs == 1
    assert layer.input_shapes == ((1, 3, 4, 4),)
    assert layer.output_shapes == ((1, 3, 4, 4),)
    assert layer.dtype == "float32"
    assert layer.is_free is False


def test_add_of_two_activations(make_model):
    node = helper.make_node("Add", ["a", "b"], ["y"], name="add")
    (layer,) = extract_layers(make_model([node], {"a": (1, 3, 4, 4), "b": (1, 3, 4, 4)})).layers
    assert layer.op_type == "Add"
    assert layer.num_inputs == 2
    assert layer.input_elements == 96
    assert layer.output_elements == 48
    assert layer.is_free is False


def test_broadcast_mul_counts_each_input(make_model):
    node = helper.make_node("Mul", ["a", "s"], ["y"], name="scale")
    (layer,) = extract_layers(make_model([node], {"a": (2, 3, 4, 4), "s": (1, 3, 1, 1)})).layers
    assert layer.input_elements == 99  # 96 + 3
    assert layer.output_elements == 96


def test_concat(make_model):
    node = helper.make_node("Concat", ["a", "b"], ["y"], name="cat", axis=1)
    (layer,) = extract_layers(make_model([node], {"a": (1, 2, 4, 4), "b": (1, 3, 4, 4)})).layers
    assert layer.num_inputs == 2
    assert layer.input_elements == 80
    assert layer.output_elements == 80
    assert layer.output_shapes == ((1, 5, 4, 4),)
    assert dict(layer.attributes) == {"axis": 1}


def test_batch_normalization_counts_its_parameters(make_model):
    node = helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], name="bn")
    params = {name: np.ones(3, dtype=np.float32) for name in ("s", "b", "m", "v")}
    (layer,) = extract_layers(make_model([node], {"x": (1, 3, 4, 4)}, params)).layers
    assert layer.op_type == "BatchNormalization"
    assert layer.num_inputs == 5
    assert layer.input_elements == 60  # 48 + 4 * 3
    assert layer.output_elements == 48


def test_other_frame_columns(make_model):
    node = helper.make_node("Sigmoid", ["x"], ["y"], name="sigmoid")
    frame = layers_to_frame(extract_layers(make_model([node], {"x": (2, 3, 4)})).layers, "other")
    assert list(frame.columns[:6]) == [
        "batch_size", "op_type", "input_elements", "output_elements", "num_inputs", "layer_name",
    ]
    (row,) = frame.to_dict("records")
    assert [row[c] for c in frame.columns[:6]] == [2, "Sigmoid", 24, 24, 1, "sigmoid"]


# --------------------------------------------------------------------------- free ops


def test_constant_identity_shape_reshape_flatten_are_free(make_model):
    shape_value = numpy_helper.from_array(np.array([1, 48], dtype=np.int64), "shape_value")
    nodes = [
        helper.make_node("Constant", [], ["shape"], name="const", value=shape_value),
        helper.make_node("Identity", ["x"], ["x1"], name="identity"),
        helper.make_node("Shape", ["x1"], ["s"], name="shape_of"),
        helper.make_node("Reshape", ["x1", "shape"], ["r"], name="reshape"),
        helper.make_node("Flatten", ["x1"], ["f"], name="flatten", axis=1),
        helper.make_node("Add", ["r", "f"], ["y"], name="add"),
    ]
    result = extract_layers(make_model(nodes, {"x": (1, 3, 4, 4)}))
    free = {layer.name: layer.is_free for layer in result.layers}
    assert free == {
        "const": True, "identity": True, "shape_of": True, "reshape": True, "flatten": True, "add": False,
    }
    assert all(layer.layer_type == "other" for layer in result.layers)
    assert result.node_count == 6
    assert len(result.layers) == 6


def test_free_op_shapes(make_model):
    nodes = [
        helper.make_node("Shape", ["x"], ["s"], name="shape_of"),
        helper.make_node("Flatten", ["x"], ["y"], name="flatten", axis=1),
    ]
    result = extract_layers(make_model(nodes, {"x": (2, 3, 4, 4)}))
    shape_of, flatten = result.layers
    assert shape_of.output_shapes == ((4,),)
    assert shape_of.input_elements == 96
    assert flatten.output_shapes == ((2, 48),)
    assert flatten.is_free is True


def test_op_on_constants_only_is_free(make_model):
    node = helper.make_node("Add", ["c1", "c2"], ["y"], name="folded")
    initializers = {"c1": np.ones(4, dtype=np.float32), "c2": np.ones(4, dtype=np.float32)}
    (layer,) = extract_layers(make_model([node], {}, initializers)).layers
    assert layer.is_free is True
    assert layer.constant_inputs == ((0, (1.0, 1.0, 1.0, 1.0)), (1, (1.0, 1.0, 1.0, 1.0)))


# --------------------------------------------------------------------------- names and positions


def _relu_chain(make_model, names):
    nodes = []
    previous = "x"
    for position, name in enumerate(names):
        nodes.append(helper.make_node("Relu", [previous], [f"t{position}"], name=name))
        previous = f"t{position}"
    return make_model(nodes, {"x": (1, 4)})


def test_index_is_graph_position(make_model):
    result = extract_layers(_relu_chain(make_model, ["a", "b", "c"]))
    assert [(layer.name, layer.index) for layer in result.layers] == [("a", 0), ("b", 1), ("c", 2)]


def test_empty_names_get_stable_unique_names(make_model):
    model = _relu_chain(make_model, ["", "named", ""])
    first = [layer.name for layer in extract_layers(model).layers]
    second = [layer.name for layer in extract_layers(model.SerializeToString()).layers]
    assert first == second
    assert all(first)
    assert len(set(first)) == 3
    assert first[1] == "named"


def test_duplicated_names_become_unique(make_model):
    model = _relu_chain(make_model, ["relu", "relu", "other", "relu"])
    names = [layer.name for layer in extract_layers(model).layers]
    assert len(set(names)) == 4
    assert all(names)
    assert names[2] == "other"
    assert names == [layer.name for layer in extract_layers(model).layers]


@pytest.mark.parametrize("clash", ["Relu_0", "Relu_1", "relu_1", "relu_0"])
def test_generated_names_never_collide_with_real_names(make_model, clash):
    model = _relu_chain(make_model, ["", "relu", "relu", clash])
    names = [layer.name for layer in extract_layers(model).layers]
    assert len(set(names)) == 4
    assert names[3] == clash
    assert all(names)


@pytest.mark.parametrize(("inputs", "output", "spans"), [
    ([(2, 3), (2, 3)], (2, 3), 1),  # same shapes: one run
    ([(2, 3), ()], (2, 3), 1),  # a scalar: one run
    ([(4, 12, 80, 80), (4, 12, 1, 1)], (4, 12, 80, 80), 48),  # a per-channel scale: N x C runs of H x W
    ([(12,), (1, 40, 40, 12)], (1, 40, 40, 12), 1600),  # a last-axis vector over NHWC: H x W runs of C
    ([(1, 4, 256, 64), (1, 4, 256, 1)], (1, 4, 256, 64), 1024),
])
def test_broadcast_spans(inputs, output, spans):
    assert broadcast_spans(inputs, output) == spans


@pytest.mark.parametrize("op", ["Add", "LessOrEqual", "GreaterOrEqual", "Mod"])
def test_broadcasting_ops_carry_their_runs(make_model, op):
    # Every binary op ONNX Runtime runs through its broadcasting loop pays per run: a per-channel compare as a
    # per-channel Add does.
    node = helper.make_node(op, ["a", "s"], ["y"], name="op")
    frame = layers_to_frame(extract_layers(make_model([node], {"a": (2, 3, 4, 4), "s": (1, 3, 1, 1)})).layers, "other")
    assert frame["broadcast_spans"].tolist() == [6]


def test_parse_shapes_reads_shape_text():
    assert parse_shapes("12;1x40x40x12") == [(12,), (1, 40, 40, 12)]
    assert parse_shapes("1x2;") == [(1, 2), ()]
    assert parse_shapes("?;3") == [None, (3,)]


@pytest.mark.parametrize(("op", "attributes", "data", "output", "inner"), [
    ("Softmax", {"axis": -1}, (8, 6, 64, 64), None, 1),  # along the innermost axis: contiguous rows
    ("Softmax", {"axis": 1}, (4, 16, 4, 1029), None, 4116),  # YOLO's DFL: steps of the 4 x anchors block after it
    ("Transpose", {"perm": [0, 2, 1, 3, 4]}, (4, 2, 32, 16, 16), None, 256),  # a channel shuffle moves H x W blocks
    ("Transpose", {"perm": [0, 2, 3, 1]}, (1, 8, 5, 5), None, 1),  # to channels-last: element by element
    ("ReduceL2", {"axes": [2, 3]}, (1, 192, 56, 56), None, 1),  # over space in NCHW
    ("ReduceL2", {"axes": [1, 2]}, (1, 29, 29, 384), None, 384),  # over space in NHWC: strided
    ("ReduceSum", {"keepdims": 1}, (1, 6, 32, 512), (1, 6, 32, 1), 1),  # axes an input: read from the kept dims
    ("Concat", {"axis": 1}, (1, 256, 20, 20), None, 400),
    ("LayerNormalization", {"axis": -1}, (1, 49, 96), None, 1),
    ("Relu", {}, (1, 8), None, None),  # not an axis op
])
def test_inner_elements(op, attributes, data, output, inner):
    assert inner_elements(op, attributes, data, output) == inner


def test_axis_ops_carry_the_block_they_step_over(make_model):
    # every op inner_elements knows, as loading gives it to rows written before the column (an instance norm too)
    nodes = [helper.make_node("Softmax", ["x"], ["s"], name="bins", axis=1),
             helper.make_node("ReduceMax", ["s"], ["m"], name="peak", axes=[1, 2], keepdims=1),
             helper.make_node("InstanceNormalization", ["s", "g", "b"], ["y"], name="norm")]
    frame = layers_to_frame(extract_layers(make_model(nodes, {"x": (1, 16, 4, 30), "g": (16,), "b": (16,)})).layers,
                            "other")
    assert frame["inner_elements"].tolist() == [120, 30, 1]
