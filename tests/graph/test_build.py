"""graph/build.py and graph/nodes.py: what backends receive from graph instead of protobuf objects."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper

from graph import extract_layers
from graph.build import (
    NodeSpec,
    conv_chain,
    has_payload,
    linear_model,
    one_node_model,
    overhead_model,
    runnable_layer,
    runnable_model,
    save_shape_only,
    small_cnn,
    small_model,
    with_random_weights,
)
from graph.loading import load_model
from graph.nodes import read_graph
from graph.ops.window import window_geometry
from tests.paths import ZOO


def _run(model) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.data, options, providers=["CPUExecutionProvider"])
    return session.run(None, model.feeds)


def test_a_layer_record_becomes_runnable_bytes_with_feeds(make_model, weights):
    conv = helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    (layer,) = extract_layers(make_model([conv], {"x": (2, 4, 5, 5)}, {"w": weights((6, 4, 3, 3))})).layers
    model = runnable_layer(layer)
    assert isinstance(model.data, bytes) and set(model.feeds) == {"X"}
    assert _run(model)[0].shape == (2, 6, 5, 5)


def test_a_shape_only_model_runs_with_random_weights_at_the_given_shape():
    model = runnable_model(ZOO / "lenet.onnx", {"input": (3, 1, 32, 32)})
    assert model.feeds["input"].shape == (3, 1, 32, 32)
    assert _run(model)[0].shape == (3, 10)


def test_random_weights_are_scaled_like_a_trained_networks_and_vectors_stay_positive():
    source = load_model(ZOO / "resnet18.onnx").proto
    stripped = {tensor.name for tensor in source.graph.initializer if not has_payload(tensor)}
    filled = {t.name: onnx.numpy_helper.to_array(t) for t in with_random_weights(source).graph.initializer
              if t.name in stripped}
    matrices = [array for array in filled.values() if array.ndim >= 2]
    assert len(matrices) >= 20  # convolution and Gemm weights
    for array in matrices:
        fan_in = array.size / array.shape[0]
        assert abs(array.mean()) < 0.1 / np.sqrt(fan_in) and np.isclose(array.var() * fan_in, 1.0, rtol=0.1)
    vectors = [array for array in filled.values() if array.ndim <= 1]
    assert vectors and all(array.min() >= 0.5 for array in vectors)  # biases, BatchNormalization variances


def test_the_overhead_model_is_one_relu_on_one_element():
    model = overhead_model()
    assert model.name == "overhead" and _run(model)[0].tolist() == [1.0]


def test_small_models_are_read_back_as_layer_records():
    node = NodeSpec("Gemm", ("X", "W", "B"), ("Y",), {"transB": 1}, name="fc")
    (layer,) = extract_layers(small_model([node], {"X": (4, 16)}, {"W": (8, 16), "B": (8,)})).layers
    assert (layer.name, layer.rows, layer.in_features, layer.out_features, layer.has_bias) == ("fc", 4, 16, 8, True)
    clip = NodeSpec("Clip", ("X", "min", "max"), ("Y",))
    (other,) = extract_layers(small_model([clip], {"X": (1, 3)}, scalars={"min": 0.0, "max": 6.0})).layers
    assert dict(other.constant_inputs) == {1: (0.0,), 2: (6.0,)}
    chain = extract_layers(conv_chain(3))
    assert [layer.name for layer in chain.layers] == ["conv0", "conv1", "conv2"]


def test_one_node_and_linear_models_are_the_layer_they_name():
    pool = one_node_model("MaxPool", {"x": (2, 8, 16, 16)}, attributes={"kernel_shape": [2, 2], "strides": [2, 2]})
    (layer,) = extract_layers(pool).layers
    assert (layer.name, layer.op_type, layer.batch_size, layer.input_chw, layer.output_chw) == (
        "maxpool", "MaxPool", 2, (8, 16, 16), (8, 8, 8))
    (dense,) = extract_layers(linear_model(in_features=32, out_features=5, batch_size=3)).layers
    assert (dense.name, dense.rows, dense.in_features, dense.out_features, dense.has_bias) == ("linear", 3, 32, 5, True)


def test_the_small_cnn_runs_with_its_random_weights():
    model = small_cnn(channels=4, batch=2, with_unmodeled=True)
    assert [node.op_type for node in model.graph.node] == [
        "Conv", "Relu", "MaxPool", "LpPool", "MaxPool", "GlobalAveragePool", "Flatten", "Gemm"]
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    assert session.run(None, {"x": np.ones((2, 3, 32, 32), np.float32)})[0].shape == (2, 10)


def test_read_graph_gives_typed_records(make_model, weights):
    nodes = [helper.make_node("Constant", [], ["c"], value=helper.make_tensor("v", onnx.TensorProto.FLOAT, [2], [1, 2])),
             helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[1, 1], name="conv"),
             helper.make_node("Add", ["y", "c"], ["z"])]
    graph = read_graph(make_model(nodes, {"x": ("N", 2, 4, 4)}, {"w": weights((2, 2, 1, 1))}))
    assert graph.opset == 17 and graph.outputs == ("z",)
    assert [(i.name, i.shape, i.dtype) for i in graph.inputs] == [("x", (0, 2, 4, 4), "float32")]  # symbolic: 0
    (w,) = graph.initializers
    assert w.shape == (2, 2, 1, 1) and w.values is not None and w.values.dtype == np.float32
    constant, conv, add = graph.nodes
    assert constant.attributes["value"].tolist() == [1.0, 2.0]
    assert conv.name == "conv" and conv.attributes["kernel_shape"] == (1, 1) and add.inputs == ("y", "c")


def test_read_graph_of_a_file_has_no_payloads_past_the_stripping_size():
    graph = read_graph(ZOO / "lenet.onnx")
    assert all(tensor.values is None for tensor in graph.initializers if np.prod(tensor.shape) > 256)


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        # H: 4 outputs need (4 - 1) * 2 + 3 - 7 = 2 pads; W: 3 outputs need 1, at the end (UPPER) or begin (LOWER).
        (((7, 6), (3, 3), (2, 2), (1, 1), (0, 0, 0, 0), "SAME_UPPER"), ([1, 0], [1, 1], [4, 3])),
        (((7, 6), (3, 3), (2, 2), (1, 1), (0, 0, 0, 0), "SAME_LOWER"), ([1, 1], [1, 0], [4, 3])),
        (((8,), (2,), (2,), (1,), (0, 0), "SAME_UPPER"), ([0], [0], [4])),
        (((10, 10), (3, 3), (2, 2), (1, 1), (0, 0, 0, 0), "NOTSET", True), ([0, 0], [0, 0], [5, 5])),
        (((9, 9), (3, 3), (1, 1), (2, 2), (2, 1, 2, 1), "NOTSET"), ([2, 1], [2, 1], [9, 7])),
        (((5,), (3,), (1,), (1,), (9, 9), "VALID"), ([0], [0], [3])),
    ],
)
def test_window_geometry_worked_by_hand(arguments, expected):
    assert window_geometry(*arguments) == expected


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (((4,), (5,), (1,), (1,), (0, 0), "NOTSET"), "kernel 5 \\(dilated\\) is larger than the padded input 4"),
        (((4,), (3,), (1,), (1,), (-1, 0), "NOTSET"), "negative pads"),
        (((4,), (3,), (1,), (1,), (0, 0), "SAME"), "unknown auto_pad 'SAME'"),
    ],
)
def test_window_geometry_says_what_is_wrong(arguments, message):
    with pytest.raises(ValueError, match=message):
        window_geometry(*arguments)


def _constant_table_model() -> onnx.ModelProto:
    """A relative-position-bias pattern as timm and transformers export it: a 49x49 int64 index table held in a
    Constant node (not an initializer) gathers from a 169x4 bias table."""
    index = np.arange(49 * 49, dtype=np.int64).reshape(49, 49) % 169
    nodes = [
        helper.make_node("Constant", [], ["index"], value=onnx.numpy_helper.from_array(index, "index")),
        helper.make_node("Gather", ["table", "index"], ["bias"]),
        helper.make_node("Add", ["x", "bias"], ["y"]),
    ]
    table = onnx.numpy_helper.from_array(np.ones((169, 4), np.float32), "table")
    graph = helper.make_graph(nodes, "constant_table", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [4])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [49, 49, 4])], [table])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_a_large_constant_node_is_stripped_on_loading_and_refilled_to_run():
    model = runnable_model(_constant_table_model(), {"x": (4,)})
    assert _run(model)[0].shape == (49, 49, 4)


def test_save_shape_only_drops_large_constant_values_and_node_metadata_and_the_file_still_runs(tmp_path):
    source, saved = tmp_path / "full.onnx", tmp_path / "shape_only.onnx"
    model = _constant_table_model()
    helper.set_metadata_props(model.graph.node[1], {"pkg.torch.onnx.stack_trace": "File ...\n" * 100})
    onnx.save(model, source)
    save_shape_only(source, saved)
    proto = onnx.load(saved, load_external_data=False)
    value = proto.graph.node[0].attribute[0].t
    assert value.data_location == onnx.TensorProto.EXTERNAL and value.raw_data == b"" and list(value.dims) == [49, 49]
    assert not (tmp_path / "shape_only.onnx.data").exists() and not proto.graph.node[1].metadata_props
    assert saved.stat().st_size < source.stat().st_size - 49 * 49 * 8
    assert _run(runnable_model(saved, {"x": (4,)}))[0].shape == (49, 49, 4)
