"""Loading: weight payloads are never read, external data is never opened, sources are equivalent."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from graph import extract_layers, load_model

# --------------------------------------------------------------------------- recording opened files

_opened: list[str] | None = None


def _audit(event, args):
    if _opened is not None and event == "open" and isinstance(args[0], (str, bytes, Path)):
        _opened.append(str(args[0]) if not isinstance(args[0], bytes) else args[0].decode(errors="replace"))


sys.addaudithook(_audit)  # audit hooks cannot be removed; this one records only inside _record_opens


def _record_opens(call):
    """Run call() and return (its result, every path Python opened meanwhile)."""
    global _opened
    _opened = []
    try:
        result = call()
        return result, list(_opened)
    finally:
        _opened = None


# --------------------------------------------------------------------------- fixtures

BIG_WEIGHT_SHAPE = (64, 16, 3, 3)  # 36 kB of float32: far above the 1 kB threshold


@pytest.fixture
def big_model(make_model, weights):
    """Conv(16 -> 64) with a 36 kB weight and a small bias, then ReduceMean over H, W (opset 18)."""
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("ReduceMean", ["c", "axes"], ["y"], name="mean", keepdims=1),
    ]
    initializers = {
        "w": weights(BIG_WEIGHT_SHAPE),
        "b": weights((64,)),
        "axes": np.array([2, 3], dtype=np.int64),
    }
    return make_model(nodes, {"x": ("N", 16, 10, 10)}, initializers, opset=18, name="big_model")


def _save_with_missing_external_data(model, path: Path, location: str, size_threshold: int = 1024):
    """Save with tensors above size_threshold bytes as external data, then delete the data file."""
    onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin", size_threshold=size_threshold)
    (path.parent / "weights.bin").unlink()
    stored = onnx.load(path, load_external_data=False)
    external = [t for t in stored.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    assert external  # the fixture really stores something externally
    for tensor in external:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    onnx.save_model(stored, path)
    return path


def _check_big_model_records(result):
    conv, mean = result.layers
    assert conv.input_chw == (16, 10, 10)
    assert conv.output_chw == (64, 10, 10)
    assert conv.kernel == (3, 3)
    assert conv.has_bias is True
    assert conv.params == 64 * 16 * 9 + 64
    assert mean.layer_type == "pooling"
    assert mean.kernel == (10, 10)
    assert result.unmodeled == ()


# --------------------------------------------------------------------------- external data


@pytest.mark.parametrize("location", ["weights.bin", "missing/dir/weights.bin", "."])
def test_missing_external_data_file_loads(big_model, tmp_path, location):
    # "." (the model's own folder) would fail any attempt to read it as a data file
    path = _save_with_missing_external_data(big_model, tmp_path / "model.onnx", location)
    result = extract_layers(path, batch_size=2)
    assert result.source == str(path)
    assert result.batch_size == 2
    _check_big_model_records(result)


def test_only_the_model_file_is_opened(big_model, tmp_path):
    path = _save_with_missing_external_data(big_model, tmp_path / "model.onnx", "weights.bin")
    extract_layers(path)  # warm up lazy imports, whose files are not of interest
    (tmp_path / "weights.bin").write_bytes(b"\0" * 10)  # a data file exists now, but must not be read
    result, opened = _record_opens(lambda: extract_layers(path))
    _check_big_model_records(result)
    in_tmp = [name for name in opened if Path(name).resolve().is_relative_to(tmp_path.resolve())]
    assert in_tmp == [str(path)]


def test_small_tensors_stored_externally_are_not_read(big_model, tmp_path):
    # size_threshold=0 also moves the 2-element axes tensor to the (deleted) data file
    path = _save_with_missing_external_data(big_model, tmp_path / "model.onnx", "weights.bin", size_threshold=0)
    result = extract_layers(path)  # no error: the data file is never opened
    assert result.node_count == 2
    assert [layer.name for layer in result.layers] == ["conv"]
    # Its axes live only in the missing file, so the ReduceMean cannot be featurised: listed, not guessed.
    assert [node.name for node in result.unmodeled] == ["mean"]


# --------------------------------------------------------------------------- stripped payloads


def _assert_stripped(proto):
    tensors = {tensor.name: tensor for tensor in proto.graph.initializer}
    weight = tensors["w"]
    assert tuple(weight.dims) == BIG_WEIGHT_SHAPE
    assert weight.data_type == onnx.TensorProto.FLOAT
    assert weight.raw_data == b""
    assert len(weight.float_data) == 0
    assert weight.ByteSize() < 1024
    # small tensors (axes, shapes) keep their values: shape inference reads them
    assert numpy_helper.to_array(tensors["axes"]).tolist() == [2, 3]


def test_path_loading_strips_large_initializers(big_model, tmp_path):
    path = tmp_path / "inline.onnx"
    onnx.save_model(big_model, path)
    assert path.stat().st_size > 36_000
    loaded = load_model(path)
    assert loaded.label == str(path)
    _assert_stripped(loaded.proto)


def test_bytes_loading_strips_large_initializers(big_model):
    loaded = load_model(big_model.SerializeToString())
    assert loaded.label == "<bytes>"
    _assert_stripped(loaded.proto)


def test_proto_loading_strips_large_initializers(big_model):
    _assert_stripped(load_model(big_model).proto)


def test_external_data_model_keeps_dims_without_data(big_model, tmp_path):
    path = _save_with_missing_external_data(big_model, tmp_path / "model.onnx", "weights.bin")
    proto = load_model(path).proto
    (weight,) = [tensor for tensor in proto.graph.initializer if tensor.name == "w"]
    assert tuple(weight.dims) == BIG_WEIGHT_SHAPE
    assert weight.raw_data == b""


# --------------------------------------------------------------------------- equivalent sources


def _comparable(result):
    return (result.layers, result.unmodeled, result.input_shapes, result.batch_size, result.batch_size_assumed,
            result.opset, result.node_count)


def test_path_bytes_and_proto_give_the_same_records(big_model, tmp_path):
    path = tmp_path / "model.onnx"
    onnx.save_model(big_model, path)
    from_path = extract_layers(path, batch_size=3)
    from_str = extract_layers(str(path), batch_size=3)
    from_bytes = extract_layers(path.read_bytes(), batch_size=3)
    from_proto = extract_layers(big_model, batch_size=3)
    assert _comparable(from_path) == _comparable(from_str) == _comparable(from_bytes) == _comparable(from_proto)
    _check_big_model_records(from_path)
    assert from_bytes.source == "<bytes>"
    assert from_proto.source == "big_model"


def test_bytearray_and_memoryview_are_bytes(big_model):
    data = big_model.SerializeToString()
    expected = _comparable(extract_layers(data))
    assert _comparable(extract_layers(bytearray(data))) == expected
    assert _comparable(extract_layers(memoryview(data))) == expected


def test_proto_passed_in_is_not_mutated(big_model):
    before = onnx.ModelProto()
    before.CopyFrom(big_model)
    serialized = big_model.SerializeToString(deterministic=True)
    extract_layers(big_model, batch_size=5)
    load_model(big_model)
    assert big_model == before
    assert big_model.SerializeToString(deterministic=True) == serialized
    assert big_model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    assert len(big_model.graph.value_info) == 0
