"""Shape-only exports beyond the seed's CNNs: one or more models per op family, and the unseen set.

FAMILY_MODELS (training_data/families/) are for measuring and training: transformers, detection,
segmentation, a UNet, int8 classifiers in QDQ and QOperator form, a video model and recurrent
networks. UNSEEN_MODELS (training_data/unseen/) are for evaluation only and must never be trained
on. Weights are random (no downloads); needs the `zoo` extra. torch is imported lazily.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graph.build import save_shape_only

__all__ = ["FAMILY_MODELS", "UNSEEN_MODELS", "ExportSpec", "export_spec"]

Builder = Callable[[], Any]


@dataclass(frozen=True)
class ExportSpec:
    """How to build and export one model: its family, inputs and exporter settings."""

    name: str
    family: str
    build: Builder  # () -> torch.nn.Module in eval mode
    inputs: tuple[tuple[str, tuple[int, ...], str], ...]  # (name, example shape, dtype)
    batch_axes: dict[str, int] = field(default_factory=dict)  # input -> its symbolic batch axis ({}: fixed)
    outputs: tuple[str, ...] = ("output",)
    quantize: str = ""  # "", "qdq" or "qoperator": onnxruntime.quantization.quantize_static, int8
    exporter: str = "legacy"
    opset: int = 17


def _torchvision(name: str, module: str = "", **kwargs) -> Builder:
    def build():
        import torchvision

        namespace = getattr(torchvision.models, module) if module else torchvision.models
        return getattr(namespace, name)(weights=None, **kwargs)

    return build


def _detector(name: str) -> Builder:
    return _torchvision(name, "detection", weights_backbone=None, num_classes=91)


def _segmenter(name: str) -> Builder:
    return _torchvision(name, "segmentation", weights_backbone=None, num_classes=21)


def _image(size: int = 224, channels: int = 3, batch_axis: bool = True) -> dict[str, Any]:
    return {"inputs": (("input", (1, channels, size, size), "float32"),), "batch_axes": {"input": 0} if batch_axis else {}}


def _unet() -> Any:
    from estimator.measure.zoo_modules import unet

    return unet()


def _encoder() -> Any:
    from estimator.measure.zoo_modules import token_encoder

    return token_encoder()


def _lstm() -> Any:
    from estimator.measure.zoo_modules import recurrent

    return recurrent("lstm")


def _gru() -> Any:
    from estimator.measure.zoo_modules import recurrent

    return recurrent("gru")


def _spec(name: str, family: str, build: Builder, **settings) -> ExportSpec:
    return ExportSpec(name, family, build, **settings)


FAMILY_MODELS: dict[str, ExportSpec] = {spec.name: spec for spec in (
    _spec("vit_b_16", "transformer", _torchvision("vit_b_16"), **_image()),
    _spec("swin_t", "transformer", _torchvision("swin_t"), **_image()),
    _spec("transformer_encoder", "transformer", _encoder,
          inputs=(("tokens", (1, 128), "int64"),), batch_axes={"tokens": 0}),
    _spec("ssdlite320_mobilenet_v3_large", "detection", _detector("ssdlite320_mobilenet_v3_large"),
          inputs=(("input", (1, 3, 320, 320), "float32"),), outputs=("boxes", "scores", "labels")),
    _spec("fasterrcnn_mobilenet_v3_large_320_fpn", "detection", _detector("fasterrcnn_mobilenet_v3_large_320_fpn"),
          inputs=(("input", (1, 3, 320, 320), "float32"),), outputs=("boxes", "labels", "scores")),
    _spec("lraspp_mobilenet_v3_large", "segmentation", _segmenter("lraspp_mobilenet_v3_large"), **_image(320)),
    _spec("deeplabv3_mobilenet_v3_large", "segmentation", _segmenter("deeplabv3_mobilenet_v3_large"), **_image(320)),
    _spec("unet", "segmentation", _unet, **_image(256)),
    _spec("resnet18_int8_qdq", "quantized", _torchvision("resnet18"), quantize="qdq", **_image()),
    _spec("resnet18_int8_qoperator", "quantized", _torchvision("resnet18"), quantize="qoperator", **_image()),
    _spec("mobilenet_v2_int8_qdq", "quantized", _torchvision("mobilenet_v2"), quantize="qdq", **_image()),
    _spec("r3d_18", "video", _torchvision("r3d_18", "video"),
          inputs=(("input", (1, 3, 8, 112, 112), "float32"),), batch_axes={"input": 0}),
    _spec("lstm", "recurrent", _lstm, inputs=(("input", (64, 1, 128), "float32"),), batch_axes={"input": 1}),
    _spec("gru", "recurrent", _gru, inputs=(("input", (64, 1, 128), "float32"),), batch_axes={"input": 1}),
)}

# Evaluation only: never train on these (training_data/unseen/README.md).
UNSEEN_MODELS: dict[str, ExportSpec] = {spec.name: spec for spec in (
    _spec("densenet121", "classifier", _torchvision("densenet121"), **_image()),
    _spec("inception_v3", "classifier", _torchvision("inception_v3", aux_logits=False, init_weights=True), **_image(299)),
    _spec("efficientnet_b0", "classifier", _torchvision("efficientnet_b0"), **_image()),
    _spec("mnasnet1_0", "classifier", _torchvision("mnasnet1_0"), **_image()),
    _spec("regnet_x_400mf", "classifier", _torchvision("regnet_x_400mf"), **_image()),
    _spec("regnet_y_400mf", "classifier", _torchvision("regnet_y_400mf"), **_image()),
    _spec("shufflenet_v2_x1_0", "classifier", _torchvision("shufflenet_v2_x1_0"), **_image()),
    _spec("squeezenet1_0", "classifier", _torchvision("squeezenet1_0"), **_image()),
    _spec("wide_resnet50_2", "classifier", _torchvision("wide_resnet50_2"), **_image()),
    _spec("mobilenet_v2_160", "classifier", _torchvision("mobilenet_v2"), **_image(160)),
    _spec("vit_b_32", "transformer", _torchvision("vit_b_32"), **_image()),
    _spec("r2plus1d_18", "video", _torchvision("r2plus1d_18", "video"),
          inputs=(("input", (1, 3, 8, 112, 112), "float32"),), batch_axes={"input": 0}),
    _spec("fcn_resnet50", "segmentation", _segmenter("fcn_resnet50"), **_image(224)),
    _spec("retinanet_resnet50_fpn", "detection", _detector("retinanet_resnet50_fpn"),
          inputs=(("input", (1, 3, 320, 320), "float32"),), outputs=("boxes", "scores", "labels")),
    _spec("resnet50_int8_qdq", "quantized", _torchvision("resnet50"), quantize="qdq", **_image()),
)}


def export_spec(spec: ExportSpec, path: Path) -> None:
    """Export one model (random weights), quantize it when asked, and save it shape-only at `path`."""
    import torch

    torch.manual_seed(0)
    torch.backends.mha.set_fastpath_enabled(False)  # fused attention kernels have no ONNX export
    model = spec.build().eval()
    examples = tuple(_example(shape, dtype) for _, shape, dtype in spec.inputs)
    names = [name for name, _, _ in spec.inputs]
    with tempfile.TemporaryDirectory() as tmp:
        full = Path(tmp) / f"{spec.name}.onnx"
        with torch.no_grad():
            if spec.exporter == "dynamo":
                batch = torch.export.Dim("batch", min=1, max=1024)
                dynamic = tuple({axis: batch} if (axis := spec.batch_axes.get(name)) is not None else {}
                                for name in names)
                torch.onnx.export(model, examples, str(full), dynamo=True, opset_version=spec.opset,
                                  input_names=names, output_names=list(spec.outputs), dynamic_shapes=dynamic,
                                  optimize=True)
            else:
                dynamic_axes = {name: {axis: "batch"} for name, axis in spec.batch_axes.items()}
                torch.onnx.export(model, examples, str(full), dynamo=False, opset_version=spec.opset,
                                  input_names=names, output_names=list(spec.outputs),
                                  dynamic_axes=dynamic_axes or None)
        note = f"{spec.exporter} exporter, scripts/export_zoo.py"
        if spec.quantize:
            from estimator.measure.zoo_quantize import quantize_int8

            quantized = Path(tmp) / f"{spec.name}.int8.onnx"
            quantize_int8(full, quantized, spec.quantize, dict(zip(names, (e.numpy() for e in examples), strict=True)))
            full, note = quantized, f"{note}, onnxruntime quantize_static int8 {spec.quantize}"
        save_shape_only(full, path, note)


def _example(shape: tuple[int, ...], dtype: str):
    import torch

    if dtype == "int64":
        return torch.randint(0, 1000, shape, dtype=torch.int64)
    return torch.randn(*shape)
