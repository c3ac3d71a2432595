#!/usr/bin/env python3
"""Export the seed's 21 CNNs to shape-only ONNX files under training_data/zoo/.

Weights are random (no downloads). Large weights are written as external data and the data
file is then deleted, so each graph keeps every tensor's dims and type but none of its payload;
small tensors (shapes, axes) stay inline because shape inference reads them. The batch
dimension is symbolic, so one file serves every batch size. Needs the `zoo` extra.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from estimator.commands import run_command
from estimator.errors import UsageError
from estimator.measure.zoo import ZOO_MODELS, export

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", default=list(ZOO_MODELS), help="models to export (default: all 21)")
    parser.add_argument("--output-dir", type=Path, default=ROOT / "training_data" / "zoo")
    parser.add_argument("--exporter", choices=("legacy", "dynamo"), default="legacy")
    parser.add_argument("--opset", type=int, default=17)
    parser.add_argument("--force", action="store_true", help="re-export files that already exist")
    args = parser.parse_args(argv)

    def export_all() -> int:
        unknown = sorted(set(args.models) - set(ZOO_MODELS))
        if unknown:
            raise UsageError(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(ZOO_MODELS)}")
        for position, name in enumerate(args.models, 1):
            path = args.output_dir / f"{name}.onnx"
            if path.exists() and not args.force:
                print(f"[{position}/{len(args.models)}] {name}: exists, skipped", flush=True)
                continue
            export(name, path, args.exporter, args.opset)
            print(f"[{position}/{len(args.models)}] {name}: {path} ({path.stat().st_size / 1e3:.0f} kB)", flush=True)
        return 0

    return run_command("export_zoo", export_all)


if __name__ == "__main__":
    raise SystemExit(main())
