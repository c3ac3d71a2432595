"""graph.kernels on the issue-11 families: tiny graphs, the kernels ONNX Runtime makes of them worked out by hand
(tests/estimator/measure/test_fusion_probes.py checks the same rules against ONNX Runtime on whole exports)."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from graph import ConvLayer, extract_layers
from graph.build import runnable_layer
from graph.kernels import ORT_CPU_AVX2, extract_kernels

_RNG = np.random.default_rng(0)


def _model(nodes, inputs, initializers, outputs=("y",)) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "t", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outputs], initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _array(name: str, array) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(array), name)


def _w(name: str, *shape: int) -> onnx.TensorProto:
    return _array(name, _RNG.standard_normal(shape).astype(np.float32))


def _ops(model) -> list[str]:
    return [kernel.op_type for kernel in extract_kernels(model, ORT_CPU_AVX2).kernels]


def test_qdq_conv_becomes_a_channels_last_qlinear_conv_between_transposes():
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"], name="q_in"),
        helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"], name="dq_x"),
        helper.make_node("DequantizeLinear", ["w", "s", "wz"], ["wd"], name="dq_w"),
        helper.make_node("Conv", ["xd", "wd"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("QuantizeLinear", ["c", "s", "z"], ["cq"], name="q_out"),
        helper.make_node("DequantizeLinear", ["cq", "s", "z"], ["y"], name="dq_out"),
    ]
    initializers = [_array("s", np.float32(0.05)), _array("z", np.uint8(128)), _array("wz", np.int8(0)),
                    _array("w", np.ones((16, 16, 3, 3), np.int8))]
    kernels = extract_kernels(_model(nodes, [("x", [1, 16, 8, 8])], initializers), ORT_CPU_AVX2).kernels
    assert [(k.op_type, k.layout) for k in kernels] == [
        ("QuantizeLinear", "nchw"), ("Transpose", "nhwc"), ("QLinearConv", "nhwc"), ("Transpose", "nchw"),
        ("DequantizeLinear", "nchw")]
    conv = kernels[2]
    assert conv.sources == ("conv", "dq_x", "dq_w", "q_out")
    assert isinstance(conv.layer, ConvLayer) and conv.layer.dtype == "uint8"


def test_scaled_attention_scores_are_one_fused_matmul():
    nodes = [
        helper.make_node("Transpose", ["k"], ["kt"], name="k_t", perm=[0, 2, 1]),
        helper.make_node("MatMul", ["q", "kt"], ["scores"], name="scores"),
        helper.make_node("Div", ["scores", "root_d"], ["scaled"], name="scale"),
        helper.make_node("Softmax", ["scaled"], ["y"], name="softmax", axis=-1),
    ]
    model = _model(nodes, [("q", [2, 5, 8]), ("k", [2, 5, 8])], [_array("root_d", np.float32(8 ** 0.5))])
    kernels = extract_kernels(model, ORT_CPU_AVX2).kernels
    assert [k.op_type for k in kernels] == ["FusedMatMul", "Softmax"]
    assert kernels[0].sources == ("scores", "scale", "k_t")
    assert (kernels[0].layer.matrices, kernels[0].layer.m, kernels[0].layer.k, kernels[0].layer.n) == (2, 5, 8, 5)


def test_gathers_of_every_index_become_a_split_and_squeezes():
    nodes = [helper.make_node("Gather", ["x", f"i{i}"], [f"g{i}"], name=f"gather{i}", axis=0) for i in range(3)]
    nodes.append(helper.make_node("Sum", ["g0", "g1", "g2"], ["y"], name="sum"))
    model = _model(nodes, [("x", [3, 4, 8])], [_array(f"i{i}", np.int64(i)) for i in range(3)])
    assert _ops(model) == ["Split", "Squeeze", "Squeeze", "Squeeze", "Sum"]


def test_3d_conv_keeps_its_add_but_takes_its_relu():
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1] * 6),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("Conv", ["r", "w"], ["c2"], name="conv2", pads=[1] * 6),
        helper.make_node("Add", ["c2", "x"], ["a"], name="add"),
        helper.make_node("Relu", ["a"], ["y"], name="relu2"),
    ]
    model = _model(nodes, [("x", [1, 4, 4, 6, 6])], [_w("w", 4, 4, 3, 3, 3)])
    kernels = extract_kernels(model, ORT_CPU_AVX2).kernels
    assert [(k.op_type, k.activation, k.has_summand) for k in kernels] == [
        ("FusedConv", "Relu", False), ("Conv", "", False), ("Add", "", False), ("Relu", "", False)]


def test_nearest_resize_of_a_blocked_tensor_is_a_blocked_upsample():
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
        helper.make_node("Resize", ["c", "", "scales"], ["y"], name="up", mode="nearest",
                         coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
    ]
    scales = _array("scales", np.array([1, 1, 2, 2], np.float32))
    kernels = extract_kernels(_model(nodes, [("x", [1, 16, 8, 8])], [_w("w", 16, 16, 1, 1), scales]), ORT_CPU_AVX2).kernels
    assert [(k.op_type, k.layout) for k in kernels] == [
        ("ReorderInput", "nchwc"), ("Conv", "nchwc"), ("Upsample", "nchwc"), ("ReorderOutput", "nchw")]


def test_nearest_resize_rounding_to_nearest_stays_an_nchw_resize_between_reorders():
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
        helper.make_node("Resize", ["c", "", "scales"], ["y"], name="up", mode="nearest",
                         coordinate_transformation_mode="asymmetric"),
    ]
    scales = _array("scales", np.array([1, 1, 2, 2], np.float32))
    kernels = extract_kernels(_model(nodes, [("x", [1, 16, 8, 8])], [_w("w", 16, 16, 1, 1), scales]), ORT_CPU_AVX2).kernels
    assert [(k.op_type, k.layout) for k in kernels] == [
        ("ReorderInput", "nchwc"), ("Conv", "nchwc"), ("ReorderOutput", "nchw"), ("Resize", "nchw")]


def test_reshape_chains_no_ops_and_twins_collapse():
    nodes = [
        helper.make_node("Reshape", ["x", "flat"], ["r1"], name="r1"),
        helper.make_node("Unsqueeze", ["r1", "axis0"], ["r2"], name="r2"),
        helper.make_node("Mul", ["r2", "one"], ["m"], name="times_one"),
        helper.make_node("Sigmoid", ["m"], ["a"], name="sigmoid_a"),
        helper.make_node("Sigmoid", ["m"], ["b"], name="sigmoid_b"),
        helper.make_node("Add", ["a", "b"], ["y"], name="add"),
    ]
    initializers = [_array("flat", np.array([4, 8], np.int64)), _array("axis0", np.array([0], np.int64)),
                    _array("one", np.float32(1.0))]
    kernels = extract_kernels(_model(nodes, [("x", [2, 2, 8])], initializers), ORT_CPU_AVX2).kernels
    assert [k.op_type for k in kernels] == ["Reshape", "Sigmoid", "Add"]
    assert kernels[0].sources == ("r1", "r2")
    assert kernels[1].sources == ("sigmoid_a", "sigmoid_b")


def test_one_node_models_of_3d_transposed_and_int8_convs_run():
    cases = [
        ("Conv", {"x": (1, 2, 4, 6, 6)}, (3, 2, 3, 3, 3), {"pads": [1] * 6, "strides": [1, 2, 2]}),
        ("ConvTranspose", {"x": (1, 4, 5, 5)}, (4, 2, 2, 2), {"strides": [2, 2]}),
    ]
    for op_type, inputs, weight, attributes in cases:
        node = helper.make_node(op_type, ["x", "w"], ["y"], name="layer", **attributes)
        model = _model([node], [(name, list(shape)) for name, shape in inputs.items()], [_w("w", *weight)])
        (layer,) = extract_layers(model).layers
        runnable = runnable_layer(layer)
        (out,) = ort.InferenceSession(runnable.data, providers=["CPUExecutionProvider"]).run(None, runnable.feeds)
        depth = (layer.depth.output,) if layer.spatial_rank == 3 else ()
        assert out.shape == (layer.batch_size, layer.output_chw[0], *depth, *layer.output_chw[1:])


def test_one_node_slice_to_the_end_of_the_axis_builds():
    # exporters write "to the end" as INT64_MAX; the record keeps it as a float, the one-node model as int64
    node = helper.make_node("Slice", ["x", "starts", "ends", "axes"], ["y"], name="tail")
    initializers = [_array("starts", np.array([1], np.int64)), _array("ends", np.array([2**63 - 1], np.int64)),
                    _array("axes", np.array([1], np.int64))]
    (layer,) = extract_layers(_model([node], [("x", [2, 5])], initializers)).layers
    runnable = runnable_layer(layer)
    (out,) = ort.InferenceSession(runnable.data, providers=["CPUExecutionProvider"]).run(None, runnable.feeds)
    assert out.shape == (2, 4)


def test_kernels_after_a_non_zero_are_data_dependent():
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("NonZero", ["r"], ["i"], name="nonzero"),
             helper.make_node("Cast", ["i"], ["y"], name="cast", to=TensorProto.FLOAT)]
    kernels = extract_kernels(_model(nodes, [("x", [2, 3])], []), ORT_CPU_AVX2)
    assert [k.op_type for k in kernels.kernels] == ["Relu", "NonZero", "Cast"]
    assert kernels.data_dependent == ("nonzero", "cast")
