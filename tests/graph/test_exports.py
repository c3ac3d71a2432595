"""Real exports: torchvision resnet18 from the legacy and the dynamo torch.onnx exporters, shape-only.

tests/data/resnet18_dynamo.onnx is written by scripts/make_test_exports.py; the legacy export is
training_data/zoo/resnet18.onnx, written by scripts/export_zoo.py.
"""

from __future__ import annotations

import onnx
import pytest

from graph import extract_layers, layers_to_frame, load_model
from tests.paths import TEST_DATA, ZOO

EXPORTS = {
    "legacy": ZOO / "resnet18.onnx",
    "dynamo": TEST_DATA / "resnet18_dynamo.onnx",
}
GLOBAL_POOL_OP = {"legacy": "GlobalAveragePool", "dynamo": "ReduceMean"}


@pytest.fixture(scope="module", params=sorted(EXPORTS))
def export(request):
    """(exporter name, path, records at the default batch size)."""
    path = EXPORTS[request.param]
    return request.param, path, extract_layers(path)


def test_stored_shape_only(export):
    name, path, _ = export
    assert path.stat().st_size < 200_000
    assert not path.with_name(path.name + ".data").exists()
    proto = onnx.load(path, load_external_data=False)
    assert f"{name} exporter" in proto.producer_name
    weight = next(t for t in proto.graph.initializer if tuple(t.dims) == (1000, 512))
    assert weight.data_location == onnx.TensorProto.EXTERNAL
    assert weight.raw_data == b""


def test_opset_and_symbolic_batch(export):
    name, _, result = export
    assert result.opset == (17 if name == "legacy" else 18)
    assert result.batch_size == 1
    assert result.batch_size_assumed is True
    assert result.input_shapes == (("input", (1, 3, 224, 224)),)


def test_layer_counts(export):
    _, _, result = export
    assert len(result.of_type("convolutional")) == 20
    assert len(result.of_type("pooling")) == 2
    assert len(result.of_type("dense")) == 1
    assert result.unmodeled == ()
    assert len(result.layers) == result.node_count


def test_first_conv(export):
    _, _, result = export
    conv = result.of_type("convolutional")[0]
    assert conv.input_chw == (3, 224, 224)
    assert conv.output_chw == (64, 112, 112)
    assert conv.kernel == (7, 7)
    assert conv.pads == (3, 3, 3, 3)
    assert conv.padding == (6, 6)
    assert conv.stride == (2, 2)
    assert conv.groups == 1


def test_downsample_conv(export):
    _, _, result = export
    one_by_one = [c for c in result.of_type("convolutional") if c.kernel == (1, 1)]
    assert [(c.input_chw, c.output_chw, c.stride) for c in one_by_one] == [
        ((64, 56, 56), (128, 28, 28), (2, 2)),
        ((128, 28, 28), (256, 14, 14), (2, 2)),
        ((256, 14, 14), (512, 7, 7), (2, 2)),
    ]


def test_pooling(export):
    name, _, result = export
    max_pool, global_pool = result.of_type("pooling")
    assert max_pool.op_type == "MaxPool"
    assert max_pool.input_chw == (64, 112, 112)
    assert max_pool.output_chw == (64, 56, 56)
    assert max_pool.kernel == (3, 3)
    assert max_pool.stride == (2, 2)
    assert max_pool.padding == (2, 2)
    assert global_pool.op_type == GLOBAL_POOL_OP[name]
    assert global_pool.is_global is True
    assert global_pool.pool_kind == "avg"
    assert global_pool.input_chw == (512, 7, 7)
    assert global_pool.output_chw == (512, 1, 1)
    assert global_pool.kernel == (7, 7)


def test_gemm(export):
    _, _, result = export
    (fc,) = result.of_type("dense")
    assert fc.op_type == "Gemm"
    assert fc.in_features == 512
    assert fc.out_features == 1000
    assert fc.has_bias is True
    assert fc.input_size == 512
    assert fc.output_size == 1000


def test_batch_size_4(export):
    _, path, _ = export
    result = extract_layers(path, batch_size=4)
    assert result.batch_size_assumed is False
    (fc,) = result.of_type("dense")
    assert fc.batch_size == 4
    assert fc.input_size == 2048
    assert fc.output_size == 4000
    conv = result.of_type("convolutional")[0]
    assert conv.batch_size == 4
    frame = layers_to_frame(result.layers, "dense")
    assert frame[["batch_size", "input_size", "output_size"]].values.tolist() == [[4, 2048, 4000]]


def test_total_conv_macs(export):
    # resnet18 at 224x224: about 1.81 GMACs in its convolutions, independent of the exporter
    _, _, result = export
    assert sum(c.macs for c in result.of_type("convolutional")) == 1_813_561_344


def test_loaded_without_payloads(export):
    _, path, _ = export
    proto = load_model(path).proto
    assert all(t.raw_data == b"" for t in proto.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL)


def _windows(result, layer_type):
    return [(layer.input_chw, layer.output_chw, layer.kernel, layer.stride, layer.pads)
            for layer in result.of_type(layer_type)]


def test_exports_differ_only_in_graph_plumbing():
    legacy = extract_layers(EXPORTS["legacy"])
    dynamo = extract_layers(EXPORTS["dynamo"])
    assert _windows(legacy, "convolutional") == _windows(dynamo, "convolutional")
    assert _windows(legacy, "pooling") == _windows(dynamo, "pooling")
    legacy_ops = {layer.op_type for layer in legacy.of_type("other")}
    dynamo_ops = {layer.op_type for layer in dynamo.of_type("other")}
    assert legacy_ops == {"Relu", "Add", "Identity", "Flatten"}
    assert dynamo_ops == {"Relu", "Add", "Reshape"}


def test_conv_bias_differs_between_exporters():
    # Both fold BatchNorm into the convs. With random (freshly initialised) weights the folded
    # bias is all zeros; the dynamo exporter's optimizer then drops it, the legacy one keeps it.
    legacy = extract_layers(EXPORTS["legacy"])
    dynamo = extract_layers(EXPORTS["dynamo"])
    assert {conv.has_bias for conv in legacy.of_type("convolutional")} == {True}
    assert {conv.has_bias for conv in dynamo.of_type("convolutional")} == {False}


def test_flatten_before_gemm(export):
    # legacy: Flatten(axis=1); dynamo: Reshape by the constant shape (-1, 512). Both are free.
    name, _, result = export
    flatten = result.layers[-2]
    assert flatten.op_type == ("Flatten" if name == "legacy" else "Reshape")
    assert flatten.is_free is True
    assert flatten.output_shapes == ((1, 512),)
    assert result.layers[-1].op_type == "Gemm"
