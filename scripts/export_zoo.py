#!/usr/bin/env python3
"""Export shape-only ONNX graphs: the seed's 21 CNNs, the op families, or the unseen and modern evaluation sets.

  --set zoo       (default) the seed's 21 CNNs -> training_data/zoo/
  --set families  transformers, detection, segmentation, a UNet, int8 (QDQ and QOperator), video,
                  recurrent -> training_data/families/ (for measuring and training)
  --set unseen    classifiers kept for evaluation only -> training_data/unseen/ (never train on them)
  --set modern    timm, transformers and ultralytics models, evaluation only -> training_data/modern/ with
                  models.json (library and torch versions, exporter, opset, shapes, what was built); needs
                  the `modern` extra

Weights are random (no downloads). Large weights are written as external data and the data
file is then deleted, so each graph keeps every tensor's dims and type but none of its payload;
small tensors (shapes, axes, quantization scales) stay inline because shape inference reads them.
The batch dimension is symbolic where the model allows it (not the detectors), so one file serves
every batch size. Needs the `zoo` extra.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from estimator.commands import run_command
from estimator.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]
SETS = ("zoo", "families", "unseen", "modern")


def _catalogue(which: str) -> dict:
    if which == "zoo":
        from estimator.measure.zoo import ZOO_MODELS

        return dict.fromkeys(ZOO_MODELS)
    if which == "modern":
        from estimator.measure.zoo_modern import MODERN_MODELS

        return dict(MODERN_MODELS)
    from estimator.measure.zoo_families import FAMILY_MODELS, UNSEEN_MODELS

    return dict(FAMILY_MODELS if which == "families" else UNSEEN_MODELS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", help="models to export (default: all of the set)")
    parser.add_argument("--set", choices=SETS, default="zoo", dest="which", help="which list (default: zoo)")
    parser.add_argument("--output-dir", type=Path, help="default: training_data/<set>")
    parser.add_argument("--exporter", choices=("legacy", "dynamo"), default="legacy", help="zoo set only")
    parser.add_argument("--opset", type=int, default=17, help="zoo set only")
    parser.add_argument("--force", action="store_true", help="re-export files that already exist")
    args = parser.parse_args(argv)

    def export_all() -> int:
        catalogue = _catalogue(args.which)
        names = args.models or list(catalogue)
        unknown = sorted(set(names) - set(catalogue))
        if unknown:
            raise UsageError(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(catalogue)}")
        output_dir = args.output_dir or ROOT / "training_data" / args.which
        if args.which == "modern":
            return _export_modern(catalogue, names, output_dir, args.force)
        for position, name in enumerate(names, 1):
            path = output_dir / f"{name}.onnx"
            if path.exists() and not args.force:
                print(f"[{position}/{len(names)}] {name}: exists, skipped", flush=True)
                continue
            if args.which == "zoo":
                from estimator.measure.zoo import export

                export(name, path, args.exporter, args.opset)
            else:
                from estimator.measure.zoo_families import export_spec

                export_spec(catalogue[name], path)
            print(f"[{position}/{len(names)}] {name}: {path} ({path.stat().st_size / 1e3:.0f} kB)", flush=True)
        return 0

    return run_command("export_zoo", export_all)


def _export_modern(catalogue: dict, names: list[str], output_dir: Path, force: bool) -> int:
    """Export the modern models asked for, recording each in models.json as soon as it is written."""
    from estimator.measure.zoo_modern import export_modern, read_manifest, write_manifest

    entries = read_manifest(output_dir)
    failed = []
    for position, name in enumerate(names, 1):
        path = output_dir / f"{name}.onnx"
        if path.exists() and name in entries and not force:
            print(f"[{position}/{len(names)}] {name}: exists, skipped", flush=True)
            continue
        try:
            entries[name] = export_modern(catalogue[name], path)
        except Exception as error:  # one model's exporter failure must not lose the others
            failed.append(name)
            print(f"[{position}/{len(names)}] {name}: FAILED {type(error).__name__}: {str(error).splitlines()[0][:300]}",
                  flush=True)
            continue
        write_manifest(output_dir, entries)
        print(f"[{position}/{len(names)}] {name}: {path} ({path.stat().st_size / 1e3:.0f} kB)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
