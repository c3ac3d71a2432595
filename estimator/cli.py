"""The `estimate` command: per-layer and whole-graph runtime, power and energy of ONNX models.

Heavy imports (onnx, pandas, catboost) happen after argument parsing, so `--help` is instant.
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

__all__ = ["build_parser", "entrypoint", "main"]

EXIT_OK = 0
EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="estimate",
        description="Estimate per-layer and whole-graph runtime (ms), power (W) and energy (mJ) of ONNX models "
                    "on a profiled device.",
        epilog="Exit codes: 0 ok, 2 bad input or unknown profile. Example: estimate model.onnx --batch-size 8",
    )
    parser.add_argument("models", nargs="*", metavar="MODEL", help="ONNX model file(s)")
    parser.add_argument("--profile", metavar="ID|PATH", help="profile id or folder (default: the shipped CPU profile)")
    parser.add_argument("--batch-size", type=int, metavar="N", help="value of a symbolic batch dimension (default 1)")
    parser.add_argument("--input-shape", action="append", default=[], metavar="NAME=1x3x224x224",
                        help="full shape of an input with symbolic dimensions (repeatable)")
    parser.add_argument("--format", choices=("table", "csv", "json", "markdown", "html"), default="table")
    parser.add_argument("--output", type=Path, metavar="FILE", help="write to FILE instead of standard output")
    parser.add_argument("--top", type=int, default=15, metavar="N", help="layers shown in table/markdown (0: all)")
    parser.add_argument("--layers", action="store_true",
                        help="list the extracted layers and their features instead of estimating")
    parser.add_argument("--list-profiles", action="store_true", help="list the available profiles and exit")
    return parser


class UsageError(Exception):
    """Bad command-line values that argparse cannot check."""


def _parse_shapes(values: list[str]) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    for value in values:
        name, sep, dims = value.rpartition("=")
        try:
            shape = tuple(int(d) for d in dims.lower().split("x"))
        except ValueError:
            shape = ()
        if not sep or not name or not shape or any(d <= 0 for d in shape):
            raise UsageError(f"--input-shape {value!r}: expected NAME=1x3x224x224 with positive dims")
        shapes[name] = shape
    return shapes


def _estimate_one(model: str, profile: str | None, batch_size: int | None, shapes: dict[str, tuple[int, ...]]):
    from estimator.estimation import estimate

    return estimate(model, profile=profile, batch_size=batch_size, input_shapes=shapes or None)


def _layers_text(model: str, batch_size: int | None, shapes: dict[str, tuple[int, ...]], fmt: str) -> str:
    import json

    import pandas as pd

    from graph import LAYER_TYPES, extract_layers, is_costed, layer_row

    extracted = extract_layers(model, batch_size=batch_size, input_shapes=shapes or None)
    rows = [{"name": layer.name, "op_type": layer.op_type, "layer_type": layer.layer_type,
             **{k: v for k, v in layer_row(layer).items() if k not in ("layer_name", "op_type")}}
            for layer in extracted.layers]
    rows += [{"name": node.name, "op_type": node.op_type, "layer_type": "unmodeled", "reason": node.reason}
             for node in extracted.unmodeled]
    if fmt == "json":
        return json.dumps({"model": extracted.source, "batch_size": extracted.batch_size,
                           "batch_size_assumed": extracted.batch_size_assumed, "layers": rows}, indent=2,
                          default=str) + "\n"
    frame = pd.DataFrame(rows)
    if fmt == "csv":
        return frame.to_csv(index=False, lineterminator="\n")
    costed = [layer for layer in extracted.layers if is_costed(layer)]
    counts = ", ".join(f"{t} {sum(1 for layer in costed if layer.layer_type == t)}" for t in LAYER_TYPES)
    header = (f"{extracted.source}: {len(costed)} layers ({counts}), {len(extracted.layers) - len(costed)} free, "
              f"{len(extracted.unmodeled)} unmodeled, "
              f"batch {extracted.batch_size}{' (assumed)' if extracted.batch_size_assumed else ''}\n")
    columns = [c for c in ("name", "op_type", "layer_type", "batch_size", "input_size_0", "input_size_1",
                           "input_size_2", "output_size_0", "output_size_1", "output_size_2", "kernel_0", "kernel_1",
                           "stride_0", "groups", "input_size", "output_size", "input_elements", "output_elements",
                           "reason") if c in frame.columns]
    return header + frame[columns].to_string(index=False, na_rep="") + "\n"


def _write(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    if not output.parent.exists():
        raise UsageError(f"--output {output}: folder {output.parent} does not exist")
    output.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit code (0 ok, 2 bad input)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    from graph.errors import EstimatorError

    try:
        if args.list_profiles:
            from estimator.profile import list_profiles

            lines = [f"{p.id}\t{'runtime+power' if p.has_power else 'runtime only'}\t{p.description}"
                     for p in list_profiles()]
            _write("\n".join(lines) + "\n", args.output)
            return EXIT_OK
        if not args.models:
            raise UsageError("no MODEL given; usage: estimate MODEL [MODEL ...] (see --help)")
        if args.batch_size is not None and args.batch_size <= 0:
            raise UsageError(f"--batch-size {args.batch_size}: must be positive")
        shapes = _parse_shapes(args.input_shape)
        if args.layers:
            _write("".join(_layers_text(m, args.batch_size, shapes, args.format) for m in args.models), args.output)
            return EXIT_OK
        if len(args.models) == 1:
            from estimator.render import render

            report = _estimate_one(args.models[0], args.profile, args.batch_size, shapes)
            _write(render(report, args.format, args.top), args.output)
            return EXIT_OK
        return _estimate_many(args, shapes)
    except (EstimatorError, UsageError) as error:
        print(f"estimate: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _estimate_many(args: argparse.Namespace, shapes: dict[str, tuple[int, ...]]) -> int:
    """Several models: estimated in parallel, one summary line each; failures reported per model."""
    from estimator.profile import load_profile
    from estimator.render import render_summary
    from graph.errors import EstimatorError

    load_profile(args.profile)  # an unknown profile fails once, before any work
    workers = max(1, min(len(args.models), os.cpu_count() or 1))
    reports, failed = [], False
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_estimate_one, m, args.profile, args.batch_size, shapes) for m in args.models]
        for future in futures:
            try:
                reports.append(future.result())
            except EstimatorError as error:
                print(f"estimate: error: {error}", file=sys.stderr)
                failed = True
    if reports:
        _write(render_summary(reports, args.format), args.output)
    return EXIT_BAD_INPUT if failed else EXIT_OK


def entrypoint() -> None:
    """Console-script entry point."""
    raise SystemExit(main())


if __name__ == "__main__":
    entrypoint()
