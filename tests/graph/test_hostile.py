"""Hostile models (issue 12): each crafted case is a one-line GraphError or a correct set of records, never a crash."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import onnx
import pytest
from onnx import helper

from graph import GraphError, ModelLoadError, NodeError, ShapeError, extract_layers, load_model
from graph.errors import BatchSizeError
from graph.stress import PAYLOAD_PLACES, payload_model
from graph.wire import KEEP_TENSOR_BYTES
from tests.fuzz.mutate_models import INVALID_UTF8, deeply_nested

FLOAT = onnx.TensorProto.FLOAT


def _one_line(error: BaseException) -> str:
    message = str(error)
    assert "\n" not in message and "\r" not in message, message
    return message


def _raises(error_class, source, *fragments, **options):
    with pytest.raises(error_class) as caught:
        extract_layers(source, **options)
    message = _one_line(caught.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


# --------------------------------------------------------------------------- operands and attributes


@pytest.mark.parametrize("op_type", ["Gemm", "MatMul"])
def test_dense_op_with_one_input_is_an_error(make_model, op_type):
    model = make_model([helper.make_node(op_type, ["x"], ["y"], name="lonely")], {"x": (2, 5)})
    _raises(GraphError, model, "lonely", "1 inputs", "at least 2")


def test_dense_op_with_an_empty_required_input_is_a_node_error(make_model, weights):
    model = make_model([helper.make_node("Gemm", ["", "w"], ["y"], name="hollow")], {"x": (2, 5)}, {"w": weights((5, 3))})
    _raises(NodeError, model, "hollow", "input 0 is missing")


@pytest.mark.parametrize("group", ["2", [1, 2], float("nan"), 0, -1, 2**40])
def test_conv_group_of_the_wrong_type_or_range_is_a_node_error(make_model, weights, group):
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="odd_group", group=group)
    model = make_model([node], {"x": (1, 4, 8, 8)}, {"w": weights((4, 2, 3, 3))})
    _raises(NodeError, model, "odd_group", "group")


def test_conv_group_without_a_value_is_a_node_error(make_model, weights):
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="empty_group")
    node.attribute.add(name="group", type=onnx.AttributeProto.TENSOR)  # says tensor, holds nothing
    model = make_model([node], {"x": (1, 4, 8, 8)}, {"w": weights((4, 4, 3, 3))})
    _raises(NodeError, model, "empty_group", "group")


@pytest.mark.parametrize("axes", [[2.0, 3.0], "2,3", [2, 7]])
def test_reduce_mean_axes_of_the_wrong_type_or_range_is_a_node_error(make_model, axes):
    node = helper.make_node("ReduceMean", ["x"], ["y"], name="mean", axes=axes)
    _raises(NodeError, make_model([node], {"x": (1, 3, 8, 8)}, opset=13), "mean", "axes")


def test_reduce_mean_axes_input_of_floats_is_a_node_error(make_model):
    node = helper.make_node("ReduceMean", ["x", "axes"], ["y"], name="mean")
    model = make_model([node], {"x": (1, 3, 8, 8)}, {"axes": np.array([2.0, float("nan")], np.float32)}, opset=18)
    _raises(GraphError, model, "axes")


def test_attribute_holding_a_tensor_gives_a_one_line_error(make_model, weights):
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="tensor_strides",
                            strides=helper.make_tensor("s", onnx.TensorProto.INT64, [2], [1, 1]))
    model = make_model([node], {"x": (1, 3, 8, 8)}, {"w": weights((4, 3, 3, 3))})
    assert "attribute 'strides' must be ints, got tensor" in _raises(NodeError, model, "tensor_strides")


# --------------------------------------------------------------------------- names


def test_names_that_are_not_utf8_are_escaped_not_fatal(make_model, weights):
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="MARKNODE"),
             helper.make_node("Relu", ["c"], ["y"], name="relu")]
    data = make_model(nodes, {"x": (1, 3, 8, 8)}, {"w": weights((4, 3, 3, 3))}).SerializeToString()
    result = extract_layers(data.replace(b"MARKNODE", b"conv" + INVALID_UTF8))
    assert [layer.name for layer in result.layers] == ["conv\\xff\\xfe\\xc3(", "relu"]
    assert result.layers[0].output_chw == (4, 6, 6)


def test_op_type_that_is_not_utf8_is_named_with_escapes(make_model):
    model = make_model([helper.make_node("Relu", ["x"], ["y"], name="r")], {"x": (1, 4)})
    data = model.SerializeToString().replace(b"Relu", b"R\xff\xfeu", 1)  # same length: the framing stays valid
    _raises(ModelLoadError, data, "no operator R\\xff\\xfeu in opset 17")


# --------------------------------------------------------------------------- files


def test_unreadable_file_is_a_load_error(make_model, tmp_path, monkeypatch):
    path = tmp_path / "secret.onnx"
    onnx.save_model(make_model([helper.make_node("Relu", ["x"], ["y"])], {"x": (1, 4)}), path)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(os, "open", refuse)  # root can read any file, so deny it as the kernel would
    _raises(ModelLoadError, path, str(path), "permission denied")


def test_fifo_as_model_is_a_load_error_without_waiting(tmp_path):
    fifo = tmp_path / "model.onnx"
    os.mkfifo(fifo)
    signal.alarm(10)  # a blocking open would hang here forever
    try:
        _raises(ModelLoadError, fifo, "is not a file")
    finally:
        signal.alarm(0)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null"])
def test_device_as_model_is_a_load_error(device):
    _raises(ModelLoadError, device, "is not a file")


# --------------------------------------------------------------------------- sizes


@pytest.mark.parametrize("batch", [0, -3, 2**70, True, 2.0])
def test_batch_size_outside_what_the_arithmetic_represents_is_rejected(make_model, batch):
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], {"x": ("N", 3)})
    with pytest.raises(BatchSizeError) as caught:
        extract_layers(model, batch_size=batch)
    assert isinstance(caught.value, ShapeError) and isinstance(caught.value, ValueError)
    assert "batch_size" in _one_line(caught.value)


def test_input_dim_of_10_to_the_23_is_rejected(make_model):
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], {"x": ("N", 3)})
    _raises(ShapeError, model, "larger than the estimator represents", input_shapes={"x": (1, 10**23)})


def test_batch_that_overflows_the_element_count_is_rejected(make_model):
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], {"x": ("N", 3, 224, 224)})
    _raises(ShapeError, model, "larger than the estimator represents", batch_size=2**39)


@pytest.mark.parametrize(("dim", "shown"), [(0, "declared as 0"), (-1, "declared as -1")])
def test_zero_or_negative_declared_dims_are_not_called_symbolic(make_model, dim, shown):
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], {"x": (1, 3)})
    model.graph.input[0].type.tensor_type.shape.dim[1].dim_value = dim
    message = _raises(ShapeError, model, shown, "not a size")
    assert "symbolic" not in message


def test_zero_declared_batch_is_an_error_not_a_batch_of_one(make_model):
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], {"x": (1, 3)})
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 0
    _raises(ShapeError, model, "dimension 0 is declared as 0", "--batch-size")
    assert extract_layers(model, batch_size=4).batch_size == 4  # given explicitly, it replaces the 0


# --------------------------------------------------------------------------- nesting and payloads


def test_nesting_beyond_protobufs_limit_is_named(make_model):
    data = make_model([helper.make_node("Relu", ["x"], ["y"])], {"x": (1, 4)}).SerializeToString()
    _raises(ModelLoadError, data + deeply_nested(40), "nest deeper than protobuf's limit")


@pytest.mark.parametrize("place", PAYLOAD_PLACES)
def test_payloads_are_dropped_wherever_they_live(place):
    model = payload_model(place, 1 << 20)
    loaded = load_model(model.SerializeToString())
    assert loaded.proto.ByteSize() < 4 * KEEP_TENSOR_BYTES  # a 1 MB payload (or claim) is gone
    result = extract_layers(model.SerializeToString())
    assert result.node_count == len(model.graph.node)


def test_a_sparse_constant_claiming_gigabytes_costs_nothing():
    started = time.perf_counter()
    result = extract_layers(payload_model("sparse_claim", 2_200_000_000).SerializeToString())
    assert time.perf_counter() - started < 10
    assert [layer.op_type for layer in result.layers] == ["Constant", "Add"]


def test_constant_of_shape_of_a_huge_shape_is_not_filled(make_model):
    shape = helper.make_tensor("s", onnx.TensorProto.INT64, [2], [10**6, 10**6])
    nodes = [helper.make_node("Constant", [], ["shape"], value=shape),
             helper.make_node("ConstantOfShape", ["shape"], ["big"],
                              value=helper.make_tensor("v", onnx.TensorProto.INT64, [1], [1])),
             helper.make_node("Shape", ["big"], ["dims"]),
             helper.make_node("Unknown", ["dims"], ["u"], domain="custom"),  # unknown shapes: graph/shapes.py runs
             helper.make_node("Relu", ["x"], ["y"])]
    model = make_model(nodes, {"x": (1, 4)}, extra_opsets={"custom": 1})
    started = time.perf_counter()
    result = extract_layers(model)
    assert time.perf_counter() - started < 10
    assert result.node_count == 5


def test_a_flattened_huge_vector_is_not_data_propagated(make_model):
    target = helper.make_tensor("t", onnx.TensorProto.INT64, [1], [-1])
    nodes = [helper.make_node("Constant", [], ["target"], value=target),
             helper.make_node("Reshape", ["x", "target"], ["flat"]),
             helper.make_node("Add", ["flat", "flat"], ["y"])]
    model = make_model(nodes, {"x": (1, 64, 4096, 4096)})  # 2**30 elements: propagating them would take 60+ GB
    started = time.perf_counter()
    extract_layers(model)
    assert time.perf_counter() - started < 10


def test_shape_resolution_writes_no_file(make_model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    nodes = [helper.make_node("Custom", ["x"], ["c"], domain="custom"), helper.make_node("Relu", ["c"], ["y"])]
    extract_layers(make_model(nodes, {"x": (1, 4)}, extra_opsets={"custom": 1}))
    assert list(tmp_path.iterdir()) == []  # ONNX Runtime's symbolic tool used to leave sym_shape_infer_temp.onnx here


def test_absorbed_bias_add_is_counted(make_model, weights):
    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"], name="linear"),
             helper.make_node("Add", ["m", "b"], ["y"], name="bias")]
    result = extract_layers(make_model(nodes, {"x": (2, 8)}, {"w": weights((8, 4)), "b": weights((4,))}))
    assert len(result.layers) == 1 and result.absorbed_count == 1
    assert len(result.layers) + result.absorbed_count + len(result.unmodeled) == result.node_count


def test_initializer_payload_is_never_read_from_a_file(tmp_path):
    path = tmp_path / "big.onnx"
    path.write_bytes(payload_model("initializer", 8 << 20).SerializeToString())
    assert load_model(path).proto.ByteSize() < 4 * KEEP_TENSOR_BYTES
