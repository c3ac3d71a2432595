"""graph.kernels: tiny graphs built in code, the kernels worked out by hand."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from graph.build import with_random_weights
from graph.context import GraphContext
from graph.generate import FAMILIES, generate
from graph.inputs import fix_input_shapes
from graph.kernels import NO_FUSION, ORT_CPU_AVX2, FusionRules, extract_kernels, working
from graph.kernels.frames import KERNEL_COLUMNS, kernel_row
from graph.kernels.working import WorkingGraph, WorkingNode
from graph.loading import load_model
from graph.stress import long_chain

_RNG = np.random.default_rng(0)


def _model(nodes, inputs, initializers, outputs=("y",)) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "t", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outputs], initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _w(name: str, *shape: int) -> onnx.TensorProto:
    return numpy_helper.from_array(_RNG.standard_normal(shape).astype(np.float32), name)


def _conv(x: str, y: str, cin: int, cout: int, name: str, groups: int = 1, kernel: int = 3) -> tuple:
    node = helper.make_node("Conv", [x, f"{name}_w", f"{name}_b"], [y], name=name, kernel_shape=[kernel, kernel],
                            pads=[kernel // 2] * 4, group=groups)
    return node, [_w(f"{name}_w", cout, cin // groups, kernel, kernel), _w(f"{name}_b", cout)]


def _ops(kernels) -> list[tuple[str, str, str, bool]]:
    return [(k.op_type, k.layout, k.activation, k.has_summand) for k in kernels]


def test_residual_block_becomes_blocked_convs_with_the_add_and_relus_fused():
    c0, w0 = _conv("x", "p", 16, 16, "c0")
    c1, w1 = _conv("p", "a", 16, 16, "c1")
    relu = helper.make_node("Relu", ["a"], ["r"], name="relu1")
    c2, w2 = _conv("r", "b", 16, 16, "c2")
    add = helper.make_node("Add", ["b", "p"], ["s"], name="add")
    out = helper.make_node("Relu", ["s"], ["y"], name="relu2")
    model = _model([c0, c1, relu, c2, add, out], [("x", [1, 16, 8, 8])], w0 + w1 + w2)
    kernels = extract_kernels(model, ORT_CPU_AVX2).kernels
    # c0's output has two readers, so nothing fuses into c0; the Add joins c2 (its first operand's
    # single-use conv) as a summand, and the last Relu then becomes c2's activation.
    assert _ops(kernels) == [
        ("ReorderInput", "nchwc", "", False),
        ("Conv", "nchwc", "", False),
        ("Conv", "nchwc", "Relu", False),
        ("Conv", "nchwc", "Relu", True),
        ("ReorderOutput", "nchw", "", False),
    ]
    assert kernels[3].sources == ("c2", "add", "relu2")
    assert kernels[2].sources == ("c1", "relu1")


def test_sibling_convs_run_in_the_order_the_fused_summand_needs():
    """RepVGG, exported unfused: Add(Conv3x3(p), Conv1x1(p)) fuses into the 3x3, which then reads the 1x1's output, so
    the 1x1 runs first. The profiled kernels pair with ours in order within a signature: listed as the model had them,
    the 3x3 took the 1x1's time (issue 19: reparam's 3x3 convolutions timed at 8x the machine's peak)."""
    c0, w0 = _conv("x", "p", 16, 16, "c0")
    relu = helper.make_node("Relu", ["p"], ["r"], name="relu0")
    c3, w3 = _conv("r", "a", 16, 16, "c3", kernel=3)
    c1, w1 = _conv("r", "b", 16, 16, "c1", kernel=1)
    add = helper.make_node("Add", ["a", "b"], ["y"], name="add")
    kernels = extract_kernels(_model([c0, relu, c3, c1, add], [("x", [1, 16, 8, 8])], w0 + w3 + w1),
                              ORT_CPU_AVX2).kernels
    convs = [k for k in kernels if k.op_type == "Conv"]
    assert [(k.name, k.has_summand) for k in convs] == [("c0", False), ("c1", False), ("c3", True)]
    assert convs[1].input_shape == convs[2].input_shape and convs[1].output_shape == convs[2].output_shape


def test_an_add_of_a_graph_input_stays_plain_after_a_reorder():
    """ONNX Runtime blocks only tensors its own NCHWc kernels produce: x + conv(x) is added in NCHW."""
    conv, weights = _conv("x", "a", 16, 16, "c")
    add = helper.make_node("Add", ["a", "x"], ["y"], name="add")
    kernels = extract_kernels(_model([conv, add], [("x", [1, 16, 8, 8])], weights), ORT_CPU_AVX2).kernels
    assert [k.op_type for k in kernels] == ["ReorderInput", "Conv", "ReorderOutput", "Add"]


def test_no_fusion_rules_run_every_compute_node_as_its_own_kernel():
    c1, w1 = _conv("x", "a", 16, 16, "c1")
    relu = helper.make_node("Relu", ["a"], ["y"], name="relu")
    kernels = extract_kernels(_model([c1, relu], [("x", [1, 16, 8, 8])], w1), NO_FUSION).kernels
    assert _ops(kernels) == [("Conv", "nchw", "", False), ("Relu", "nchw", "", False)]


def test_channels_padded_to_the_block_in_the_kernel_shapes():
    conv, weights = _conv("x", "y", 16, 20, "c")
    kernels = extract_kernels(_model([conv], [("x", [2, 16, 8, 8])], weights), ORT_CPU_AVX2).kernels
    blocked = kernels[1]
    assert blocked.layer.output_chw == (20, 8, 8)  # the model's view stays logical
    assert blocked.output_shape == (2, 24, 8, 8)  # the runtime's tensor holds 3 blocks of 8
    assert kernels[2].op_type == "ReorderOutput" and kernels[2].output_shape == (2, 20, 8, 8)


def test_grouped_conv_that_cannot_block_takes_the_add_and_relu_as_fused_conv():
    conv, weights = _conv("x", "a", 16, 16, "c", groups=8)  # 2 channels per group: no NCHWc
    add = helper.make_node("Add", ["a", "x"], ["s"], name="add")
    relu = helper.make_node("Relu", ["s"], ["y"], name="relu")
    kernels = extract_kernels(_model([conv, add, relu], [("x", [1, 16, 8, 8])], weights), ORT_CPU_AVX2).kernels
    assert _ops(kernels) == [("FusedConv", "nchw", "Relu", True)]


def test_matmul_with_bias_on_tokens_becomes_reshape_gemm_reshape_and_gelu_is_one_kernel():
    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"], name="fc"),
             helper.make_node("Add", ["m", "b"], ["h"], name="bias"),
             helper.make_node("Div", ["h", "sqrt2"], ["d"]), helper.make_node("Erf", ["d"], ["e"], name="erf"),
             helper.make_node("Add", ["e", "one"], ["e1"]), helper.make_node("Mul", ["h", "e1"], ["g"]),
             helper.make_node("Mul", ["g", "half"], ["y"])]
    scalars = [numpy_helper.from_array(np.array(value, np.float32), name)
               for name, value in (("sqrt2", 2 ** 0.5), ("one", 1.0), ("half", 0.5))]
    inits = [_w("w", 32, 64), _w("b", 64), *scalars]
    kernels = extract_kernels(_model(nodes, [("x", [2, 10, 32])], inits), ORT_CPU_AVX2).kernels
    assert [k.op_type for k in kernels] == ["Reshape", "Gemm", "Reshape", "Gelu"]
    gemm = kernels[1].layer
    assert (gemm.rows, gemm.in_features, gemm.out_features, gemm.has_bias) == (20, 32, 64, True)
    assert kernels[3].layer.input_shapes == ((2, 10, 64),)


def test_identity_and_constant_arithmetic_cost_nothing_and_are_counted():
    nodes = [helper.make_node("Identity", ["x"], ["i"], name="id"),
             helper.make_node("Add", ["c1", "c2"], ["c3"], name="folded"),
             helper.make_node("Mul", ["i", "c3"], ["y"], name="scale")]
    inits = [_w("c1", 4), _w("c2", 4)]
    result = extract_kernels(_model(nodes, [("x", [3, 4])], inits), ORT_CPU_AVX2)
    assert [k.op_type for k in result.kernels] == ["Mul"]
    assert sorted(result.free) == [("folded", "Add"), ("id", "Identity")]


@pytest.mark.parametrize("family", FAMILIES)
def test_every_model_node_is_a_kernel_source_free_or_unmodeled(family):
    network = generate(family, 0)
    result = extract_kernels(network.model, ORT_CPU_AVX2, batch_size=2)
    sources = [name for kernel in result.kernels for name in kernel.sources]
    accounted = sources + [name for name, _ in result.free] + [node.name for node in result.unmodeled]
    assert sorted(accounted) == sorted(node.name for node in network.model.graph.node)
    assert len(set(sources)) == len(sources)


def test_kernel_rows_put_the_seed_columns_first_and_the_kernel_columns_after():
    conv, weights = _conv("x", "y", 16, 16, "c")
    kernel = extract_kernels(_model([conv], [("x", [1, 16, 8, 8])], weights), ORT_CPU_AVX2).kernels[1]
    row = kernel_row(kernel)
    names = list(row)
    assert names[:13] == ["batch_size", "input_size_0", "input_size_1", "input_size_2", "output_size_0",
                          "output_size_1", "output_size_2", "kernel_0", "kernel_1", "padding_0", "padding_1",
                          "stride_0", "stride_1"]
    assert names[-len(KERNEL_COLUMNS):] == list(KERNEL_COLUMNS)
    assert row["layout"] == "nchwc" and row["physical_output_channels"] == 16


def test_rules_round_trip_through_a_manifest_and_reject_unknown_keys():
    assert FusionRules.from_dict(ORT_CPU_AVX2.to_dict()) == ORT_CPU_AVX2
    with pytest.raises(ValueError, match="unknown fusion rule"):
        FusionRules.from_dict({"nchwc_blocks": 8})
    with pytest.raises(ValueError, match="integer"):
        FusionRules.from_dict({"nchwc_block": -1})


def test_generator_is_deterministic_and_valid():
    first, again = generate("inverted_residual_se", 3), generate("inverted_residual_se", 3)
    assert first.model.SerializeToString() == again.model.SerializeToString()
    onnx.checker.check_model(with_random_weights(first.model), full_check=True)
    with pytest.raises(ValueError, match="unknown family"):
        generate("mystery", 0)


@pytest.mark.parametrize("op", ["Mul", "MatMul", "Relu"])
def test_the_passes_rebuild_the_graph_maps_only_after_a_change(op, monkeypatch):
    # Passes that look at every Mul or MatMul ask for the consumer and producer maps once per candidate:
    # rebuilt each time, the time grew with the square of the graph. Now they are rebuilt only after a change.
    builds = []
    real = working.WorkingGraph._current_maps

    def counting(self):
        before = self._maps
        maps = real(self)
        if maps is not before:
            builds.append(len(self.nodes))
        return maps

    monkeypatch.setattr(working.WorkingGraph, "_current_maps", counting)
    kernels = extract_kernels(long_chain(2_000, op), ORT_CPU_AVX2).kernels
    assert len(kernels) == 2_000 and [k.op_type for k in kernels][:2] == [op, op]
    assert len(builds) <= 20, len(builds)


def test_a_changed_graph_gives_fresh_maps():
    loaded = load_model(long_chain(3))
    graph = WorkingGraph(GraphContext.from_shaped(fix_input_shapes(loaded, None, None), loaded.label, 17), {"t2"})
    assert [n.name for n in graph.consumers()["t0"]] == ["n1"]
    graph.nodes[1].inputs[0] = "x"  # n1 now reads x
    assert [n.name for n in graph.consumers()["x"]] == ["n0", "n1"] and "t0" not in graph.consumers()
    extra = WorkingNode("Relu", ["t2"], ["t3"])
    graph.nodes.append(extra)
    assert graph.consumers()["t2"] == [extra] and graph.producers()["t3"] is extra
    graph.remove(extra)
    assert "t3" not in graph.producers()


def test_maps_patched_around_inserted_and_replaced_nodes_equal_rebuilt_ones():
    # Insertions, replacements and slice edits patch the maps around the nodes that joined or left; any edit
    # sequence must leave them as a rebuild from the node list would.
    loaded = load_model(long_chain(12))
    graph = WorkingGraph(GraphContext.from_shaped(fix_input_shapes(loaded, None, None), loaded.label, 17), {"t11"})

    def same_as_rebuilt():
        consumers, producers = graph.consumers(), graph.producers()
        fresh_consumers, fresh_producers, _ = graph._built()
        graph._maps = None
        assert {k: v for k, v in consumers.items() if v} == dict(fresh_consumers) and producers == fresh_producers

    same_as_rebuilt()
    nodes = graph.nodes
    graph.replace(nodes[3], WorkingNode("Sigmoid", ["t2"], ["t3"]))
    same_as_rebuilt()
    index = graph.nodes.index(graph.nodes[5])
    graph.nodes[index:index + 1] = [WorkingNode("Reshape", ["t4"], ["r"]), graph.nodes[5], WorkingNode("Abs", ["r"], ["q"])]
    graph.nodes.insert(0, WorkingNode("Neg", ["x"], ["n"]))
    graph.nodes.insert(1, WorkingNode("Neg", ["n"], ["m"]))
    same_as_rebuilt()
    graph.remove(graph.nodes[1])
    graph.nodes.insert(len(graph.nodes), WorkingNode("Exp", ["t11"], ["e"]))
    graph.nodes[2:2] = [WorkingNode("Log", ["x"], ["l"]), WorkingNode("Log", ["l"], ["l2"])]
    same_as_rebuilt()
    moved = graph.nodes[4]
    graph.nodes.insert(0, moved)  # a node that is already there: the whole list is looked at again
    del graph.nodes[5]
    same_as_rebuilt()
