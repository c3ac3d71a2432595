#!/usr/bin/env python3
"""Export the seed's 21 CNNs to shape-only ONNX files under training_data/zoo/.

Weights are random (no downloads). Large weights are written as external data and the data
file is then deleted, so each graph keeps every tensor's dims and type but none of its payload;
small tensors (shapes, axes) stay inline because shape inference reads them. The batch
dimension is symbolic, so one file serves every batch size. Needs the `zoo` extra.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TORCHVISION_MODELS = (
    "alexnet", "vgg11", "vgg13", "vgg16", "vgg19", "resnet18", "resnet34", "resnet50", "resnet101",
    "resnet152", "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d", "googlenet",
    "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", "convnext_tiny", "convnext_small",
    "convnext_base",
)
ZOO_MODELS = ("lenet", *TORCHVISION_MODELS)
SMALL_TENSOR_BYTES = 1024


def build_model(name: str):
    """A torchvision architecture (random weights) or the seed's LeNet, in eval mode."""
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
    import onnx
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
        proto = onnx.load(str(full))
    proto.producer_name = f"{proto.producer_name} ({exporter} exporter, scripts/export_zoo.py)"
    save_shape_only(proto, path)


def save_shape_only(proto, path: Path) -> None:
    """Save with large tensors as external data pointing to a file that is then removed."""
    import onnx

    path.parent.mkdir(parents=True, exist_ok=True)
    data_name = f"{path.name}.data"
    tmp = path.with_suffix(".onnx.tmp")
    onnx.save_model(proto, str(tmp), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=data_name, size_threshold=SMALL_TENSOR_BYTES)
    (path.parent / data_name).unlink(missing_ok=True)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", default=list(ZOO_MODELS), help="models to export (default: all 21)")
    parser.add_argument("--output-dir", type=Path, default=ROOT / "training_data" / "zoo")
    parser.add_argument("--exporter", choices=("legacy", "dynamo"), default="legacy")
    parser.add_argument("--opset", type=int, default=17)
    parser.add_argument("--force", action="store_true", help="re-export files that already exist")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.models) - set(ZOO_MODELS))
    if unknown:
        print(f"error: unknown model(s) {', '.join(unknown)}; choose from {', '.join(ZOO_MODELS)}", file=sys.stderr)
        return 2
    for position, name in enumerate(args.models, 1):
        path = args.output_dir / f"{name}.onnx"
        if path.exists() and not args.force:
            print(f"[{position}/{len(args.models)}] {name}: exists, skipped", flush=True)
            continue
        export(name, path, args.exporter, args.opset)
        print(f"[{position}/{len(args.models)}] {name}: {path} ({path.stat().st_size / 1e3:.0f} kB)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
