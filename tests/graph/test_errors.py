"""Bad input: each failure is a graph.errors class whose message names the file (and the node)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper

from graph import GraphError, ModelLoadError, NodeError, ShapeError, extract_layers
from tests.paths import ZOO

LEGACY_RESNET18 = ZOO / "resnet18.onnx"


def _raises(error_class, source, *fragments):
    with pytest.raises(error_class) as caught:
        extract_layers(source)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


def test_error_hierarchy():
    for error_class in (ModelLoadError, ShapeError, NodeError):
        assert issubclass(error_class, GraphError)
    # graph imports nothing from estimator: GraphError is its own root, and estimator.errors.PROJECT_ERRORS
    # names it beside EstimatorError (tests/estimator/test_commands.py: both exit 2 with one line).
    assert GraphError.__bases__ == (Exception,)


def test_missing_file(tmp_path):
    path = tmp_path / "missing.onnx"
    _raises(ModelLoadError, path, str(path))


def test_missing_file_as_str(tmp_path):
    path = tmp_path / "missing.onnx"
    _raises(ModelLoadError, str(path), str(path))


def test_directory_is_not_a_model(tmp_path):
    _raises(ModelLoadError, tmp_path, str(tmp_path))


def test_empty_file(tmp_path):
    path = tmp_path / "empty.onnx"
    path.write_bytes(b"")
    _raises(ModelLoadError, path, str(path))


@pytest.mark.parametrize(
    "garbage",
    [b"\xff" * 64, b"this is certainly not an ONNX model\n" * 4, bytes(range(256))],
    ids=["ff", "text", "all-bytes"],
)
def test_garbage_bytes_file(tmp_path, garbage):
    path = tmp_path / "garbage.onnx"
    path.write_bytes(garbage)
    _raises(ModelLoadError, path, str(path))


def test_truncated_file(tmp_path):
    data = LEGACY_RESNET18.read_bytes()
    path = tmp_path / "truncated.onnx"
    path.write_bytes(data[: len(data) // 2])
    _raises(ModelLoadError, path, str(path))


def test_truncated_bytes():
    data = LEGACY_RESNET18.read_bytes()
    _raises(ModelLoadError, data[: len(data) // 2], "<bytes>")


def test_empty_graph(make_model, tmp_path):
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], {"x": (1, 3)})
    del model.graph.node[:]
    path = tmp_path / "empty_graph.onnx"
    onnx.save_model(model, path)
    _raises(ModelLoadError, path, str(path))


def test_conv_weight_channels_disagree_with_input_channels(make_model, weights, tmp_path):
    # 4 input channels, group 1, but the weight expects 3 per group
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="bad_conv")
    model = make_model([node], {"x": (1, 4, 8, 8)}, {"w": weights((6, 3, 3, 3))}, outputs={"y": (1, 6, 6, 6)})
    onnx.checker.check_model(model)  # ONNX's checker lets it through
    path = tmp_path / "bad_conv.onnx"
    onnx.save_model(model, path)
    _raises(NodeError, path, str(path), "bad_conv")


def test_conv_weight_channels_disagree_with_group(make_model, weights, tmp_path):
    # 4 input channels with group 2 need weight[1] == 2
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="bad_group", group=2)
    model = make_model([node], {"x": (1, 4, 8, 8)}, {"w": weights((6, 4, 3, 3))}, outputs={"y": (1, 6, 6, 6)})
    onnx.checker.check_model(model)
    path = tmp_path / "bad_group.onnx"
    onnx.save_model(model, path)
    _raises(NodeError, path, str(path), "bad_group")


def test_conv_out_channels_not_divisible_by_group(make_model, weights, tmp_path):
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="odd_out", group=2)
    path = tmp_path / "odd_out.onnx"
    onnx.save_model(make_model([node], {"x": (1, 4, 8, 8)}, {"w": weights((5, 2, 3, 3))}), path)
    _raises(NodeError, path, str(path), "odd_out")


def test_conv_kernel_shape_disagrees_with_weight(make_model, weights, tmp_path):
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="bad_kernel", kernel_shape=[5, 5])
    path = tmp_path / "bad_kernel.onnx"
    onnx.save_model(make_model([node], {"x": (1, 3, 8, 8)}, {"w": weights((4, 3, 3, 3))}), path)
    _raises(NodeError, path, str(path), "bad_kernel")


def test_gemm_inner_dims_mismatch(make_model, weights, tmp_path):
    node = helper.make_node("Gemm", ["a", "b"], ["y"], name="bad_gemm")
    model = make_model([node], {"a": (2, 5)}, {"b": weights((6, 3))}, outputs={"y": (2, 3)})
    onnx.checker.check_model(model)
    path = tmp_path / "bad_gemm.onnx"
    onnx.save_model(model, path)
    _raises(NodeError, path, str(path), "bad_gemm")


def test_gemm_trans_b_inner_dims_mismatch(make_model, weights, tmp_path):
    # transB=1 reads B (3, 6) as (6, 3): K = 6 against A's K = 5
    node = helper.make_node("Gemm", ["a", "b"], ["y"], name="bad_gemm_t", transB=1)
    path = tmp_path / "bad_gemm_t.onnx"
    onnx.save_model(make_model([node], {"a": (2, 5)}, {"b": weights((3, 6))}), path)
    _raises(NodeError, path, str(path), "bad_gemm_t")


def test_matmul_inner_dims_mismatch(make_model, weights, tmp_path):
    node = helper.make_node("MatMul", ["x", "w"], ["y"], name="bad_matmul")
    path = tmp_path / "bad_matmul.onnx"
    onnx.save_model(make_model([node], {"x": (2, 7, 5)}, {"w": weights((6, 3))}), path)
    _raises(NodeError, path, str(path), "bad_matmul")


def test_pool_kernel_larger_than_padded_input(make_model, tmp_path):
    # padded height 3 + 1 + 1 = 5 < kernel 6
    node = helper.make_node("MaxPool", ["x"], ["y"], name="big_pool", kernel_shape=[6, 2], pads=[1, 0, 1, 0])
    model = make_model([node], {"x": (1, 2, 3, 8)})
    path = tmp_path / "big_pool.onnx"
    onnx.save_model(model, path)
    _raises(NodeError, path, str(path), "big_pool")


def test_dilated_pool_kernel_larger_than_input(make_model, tmp_path):
    # effective kernel (3 - 1) * 2 + 1 = 5 > 4
    node = helper.make_node("MaxPool", ["x"], ["y"], name="dilated_pool", kernel_shape=[3, 3], dilations=[2, 2])
    path = tmp_path / "dilated_pool.onnx"
    onnx.save_model(make_model([node], {"x": (1, 2, 4, 4)}), path)
    _raises(NodeError, path, str(path), "dilated_pool")


def test_conv_kernel_larger_than_padded_input(make_model, weights, tmp_path):
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="big_conv")
    path = tmp_path / "big_conv.onnx"
    onnx.save_model(make_model([node], {"x": (1, 3, 2, 8)}, {"w": weights((4, 3, 3, 3))}), path)
    _raises(NodeError, path, str(path), "big_conv")


def test_node_error_for_an_unnamed_node_names_the_generated_name(make_model, tmp_path):
    nodes = [
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["y"], kernel_shape=[9, 9]),
    ]
    path = tmp_path / "unnamed.onnx"
    onnx.save_model(make_model(nodes, {"x": (1, 2, 4, 4)}), path)
    result_names = _raises(NodeError, path, str(path), "MaxPool")
    assert "''" not in result_names


# --------------------------------------------------------------------------- malformed models (checker rejects)


@pytest.mark.parametrize(
    ("op_type", "attributes"),
    [
        ("Conv", {"strides": 2}),
        ("Conv", {"pads": 1}),
        ("Conv", {"kernel_shape": 3}),
        ("MaxPool", {"kernel_shape": 3}),
        ("ReduceMean", {"axes": 2}),
    ],
    ids=["conv-strides", "conv-pads", "conv-kernel", "maxpool-kernel", "reducemean-axes"],
)
def test_scalar_attribute_where_a_list_is_required(make_model, weights, tmp_path, op_type, attributes):
    inputs = ["x", "w"] if op_type == "Conv" else ["x"]
    initializers = {"w": weights((4, 3, 3, 3))} if op_type == "Conv" else {}
    node = helper.make_node(op_type, inputs, ["y"], name="scalar_attr", **attributes)
    path = tmp_path / "scalar_attr.onnx"
    onnx.save_model(make_model([node], {"x": (1, 3, 8, 8)}, initializers), path)
    _raises(NodeError, path, str(path), "scalar_attr")


def test_initializer_with_an_invalid_data_type(make_model, tmp_path):
    node = helper.make_node("ReduceMean", ["x", "axes"], ["y"], name="mean")
    model = make_model([node], {"x": (1, 3, 8, 8)}, {"axes": np.array([2, 3], dtype=np.int64)}, opset=18)
    model.graph.initializer[0].data_type = 95  # no such TensorProto.DataType (a corrupted file)
    path = tmp_path / "corrupt.onnx"
    onnx.save_model(model, path)
    _raises(GraphError, path, str(path))
