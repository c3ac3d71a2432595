"""The seed's 21 CNNs: built in torch (random weights, no downloads) and exported as shape-only ONNX graphs.

Needs the `zoo` extra (torch, torchvision; onnxscript for the dynamo exporter).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from graph.build import save_shape_only

__all__ = ["TORCHVISION_MODELS", "ZOO_MODELS", "build_model", "export"]

TORCHVISION_MODELS = (
    "alexnet", "vgg11", "vgg13", "vgg16", "vgg19", "resnet18", "resnet34", "resnet50", "resnet101",
    "resnet152", "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d", "googlenet",
    "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", "convnext_tiny", "convnext_small",
    "convnext_base",
)
ZOO_MODELS = ("lenet", *TORCHVISION_MODELS)


def build_model(name: str) -> tuple[Any, tuple[int, ...]]:
    """A torchvision architecture (random weights) or the seed's LeNet, in eval mode, with its input shape."""
    import torch
    import torchvision

    torch.manual_seed(0)
    if name == "lenet":
        model = torch.nn.Sequential(
            torch.nn.Conv2d(1, 128, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(128, 16, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Flatten(), torch.nn.Linear(576, 120), torch.nn.ReLU(),
            torch.nn.Linear(120, 84), torch.nn.ReLU(), torch.nn.Linear(84, 10),
        )
        return model.eval(), (1, 1, 32, 32)
    kwargs = {"aux_logits": False, "init_weights": True} if name == "googlenet" else {}
    model = getattr(torchvision.models, name)(weights=None, **kwargs)
    return model.eval(), (1, 3, 224, 224)


def export(name: str, path: Path, exporter: str = "legacy", opset: int = 17) -> None:
    """Export one model with a symbolic batch dimension and strip its weight payloads."""
    import torch

    model, input_shape = build_model(name)
    example = torch.randn(*input_shape)
    with tempfile.TemporaryDirectory() as tmp:
        full = Path(tmp) / f"{name}.onnx"
        with torch.no_grad():
            if exporter == "dynamo":
                batch = torch.export.Dim("batch", min=1, max=1024)
                torch.onnx.export(model, (example,), str(full), dynamo=True, opset_version=opset,
                                  input_names=["input"], output_names=["output"],
                                  dynamic_shapes=({0: batch},), optimize=True)
            else:
                torch.onnx.export(model, (example,), str(full), dynamo=False, opset_version=opset,
                                  input_names=["input"], output_names=["output"],
                                  dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
        save_shape_only(full, path, f"{exporter} exporter, scripts/export_zoo.py")
