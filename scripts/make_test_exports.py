#!/usr/bin/env python3
"""Create the stored ONNX fixtures under tests/data/ that the graph tests read.

tests/data/resnet18_dynamo.onnx: torchvision resnet18 (random weights) exported by the dynamo
exporter (opset 18, symbolic batch dimension, onnxscript optimizer on), saved shape-only: large
tensors are written as external data to `resnet18_dynamo.onnx.data` and that file is deleted,
so the graph keeps every tensor's dims and type but none of its payload (a few tens of kB).

The legacy-exporter counterpart is training_data/zoo/resnet18.onnx, written by
scripts/export_zoo.py. Needs the `zoo` extra (torch, torchvision, onnxscript).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from estimator.commands import run_command
from estimator.measure.zoo import export

DATA_DIR = Path(__file__).resolve().parents[1] / "tests" / "data"
EXPORTS = {"resnet18_dynamo.onnx": ("resnet18", "dynamo", 18)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--force", action="store_true", help="re-export files that already exist")
    args = parser.parse_args(argv)

    def export_all() -> int:
        for file_name, (model_name, exporter, opset) in EXPORTS.items():
            path = args.output_dir / file_name
            if path.exists() and not args.force:
                print(f"{path}: exists, skipped (--force to re-export)", flush=True)
                continue
            export(model_name, path, exporter=exporter, opset=opset)
            print(f"{path}: {model_name}, {exporter} exporter, opset {opset} ({path.stat().st_size / 1e3:.0f} kB)",
                  flush=True)
        return 0

    return run_command("make_test_exports", export_all)


if __name__ == "__main__":
    raise SystemExit(main())
