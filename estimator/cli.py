"""The `estimate` command: per-layer and whole-graph runtime, power and energy of ONNX models.

Heavy imports (onnx, pandas, catboost) happen after argument parsing, so `--help` is instant.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import sys
import time
from pathlib import Path

from estimator.predict.formats import FORMATS  # (a leaf: names only, so --help stays instant)

__all__ = ["AUTO_CALIBRATE_VARIABLE", "build_parser", "entrypoint", "main"]

AUTO_CALIBRATE_VARIABLE = "ONNX_COST_ESTIMATOR_AUTO_CALIBRATE"
FIRST_RUN_BUDGET_S = 60.0  # estimator.calibrate.FIRST_RUN_BUDGET_S, kept here so that --help imports nothing heavy
BUSY_RETRY_S = 3600.0  # after a first-use calibration found the machine busy, the next automatic try waits this long


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="estimate",
        description="Estimate per-layer and whole-graph runtime (ms), power (W) and energy (mJ) of ONNX models "
                    "on a profiled device.",
        epilog="Exit codes: 0 ok, 2 bad input or unknown profile, 3 a model below --require-modeled (its report is "
               "still written). Examples: estimate model.onnx --batch-size 8; a curve over batch sizes: "
               "estimate model.onnx --batch-size 1,8,32; over a sequence length: estimate model.onnx --dim seq=16,64,256",
    )
    parser.add_argument("models", nargs="*", metavar="MODEL", help="ONNX model file(s)")
    parser.add_argument("--profile", metavar="ID|PATH", help="profile id or folder (default: the shipped CPU profile)")
    parser.add_argument("--batch-size", metavar="N[,N...]",
                        help="value of a symbolic batch dimension (default 1); several, e.g. 1,8,32, give a curve: "
                             "runtime and energy per sample and throughput at each")
    parser.add_argument("--dim", action="append", default=[], metavar="NAME=N[,N...]",
                        help="size of a named symbolic input dimension, e.g. seq=128 (repeatable); several sizes, "
                             "e.g. seq=16,64,256, give a curve over it")
    parser.add_argument("--input-shape", action="append", default=[], metavar="NAME=1x3x224x224",
                        help="full shape of an input with symbolic dimensions (repeatable)")
    parser.add_argument("--format", choices=FORMATS, default="table")
    parser.add_argument("--output", type=Path, metavar="FILE", help="write to FILE instead of standard output")
    parser.add_argument("--top", type=int, default=15, metavar="N", help="top layers shown in table/markdown/html (0: all)")
    parser.add_argument("--layers", action="store_true",
                        help="list the extracted layers and their features instead of estimating")
    parser.add_argument("--list-profiles", action="store_true", help="list the available profiles and exit")
    parser.add_argument("--require-modeled", type=float, metavar="SHARE",
                        help="exit 3 when less than SHARE (0-1) of a model's MACs is modeled by the profile, "
                             "e.g. 0.95; the report says which compute is missing")
    parser.add_argument("--threads", type=int, metavar="N",
                        help="ONNX Runtime intra-op threads the estimate is for (default: ONNX Runtime's default here); "
                             "picks the nearest profile for them")
    calibration = parser.add_mutually_exclusive_group()
    calibration.add_argument("--calibrate", type=float, nargs="?", const=FIRST_RUN_BUDGET_S, metavar="SECONDS",
                             help=f"first measure a profile of this machine (default {FIRST_RUN_BUDGET_S:.0f} s), then "
                                  "estimate with it; done by itself on the first call in a terminal when no profile "
                                  "of this machine exists")
    calibration.add_argument("--no-calibrate", action="store_true",
                             help=f"never measure: use the nearest profile as it is (also {AUTO_CALIBRATE_VARIABLE}=0)")
    return parser


def _parse_shapes(values: list[str]) -> dict[str, tuple[int, ...]]:
    from estimator.errors import UsageError

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


def _parse_sizes(text: str, given: str) -> list[int]:
    """`8` or `1,8,32` as positive ints; anything else is a UsageError that starts with `given` (option and value)."""
    from estimator.errors import UsageError

    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise UsageError(f"{given}: expected a whole number or comma-separated ones, e.g. 8 or 1,8,32") from None
    if any(size <= 0 for size in sizes):
        raise UsageError(f"{given}: must be positive")
    return sizes


def _parse_dims(values: list[str]) -> dict[str, list[int]]:
    from estimator.errors import UsageError

    dims: dict[str, list[int]] = {}
    for value in values:
        name, sep, sizes = value.partition("=")
        if not sep or not name:
            raise UsageError(f"--dim {value!r}: expected NAME=N or NAME=N,N,... e.g. seq=128 or seq=16,64,256")
        if name in dims:
            raise UsageError(f"--dim {name}: given twice; give it once")
        dims[name] = _parse_sizes(sizes, f"--dim {value}")
    return dims


def _fingerprint_text(fingerprint: dict | None) -> str:
    if not fingerprint:
        return "machine not recorded"
    keys = ("cpu_model", "logical_cpus", "isa", "onnxruntime", "provider", "optimization_level", "intra_op_threads")
    return "; ".join(f"{key}={','.join(value) if isinstance(value, list) else value}"
                     for key in keys if (value := fingerprint.get(key)) is not None)


def _write(text: str, output: Path | None) -> None:
    from estimator.errors import UsageError

    if output is None:
        try:
            sys.stdout.write(text)
        except UnicodeEncodeError:  # a terminal that cannot show some character of a name
            sys.stdout.flush()
            sys.stdout.buffer.write(text.encode(sys.stdout.encoding or "utf-8", "backslashreplace"))
        return
    if not output.parent.exists():
        raise UsageError(f"--output {output}: folder {output.parent} does not exist")
    try:
        output.write_text(text, encoding="utf-8", errors="backslashreplace")
    except OSError as error:  # a folder, a full device, no permission
        raise UsageError(f"--output {output}: cannot write it ({error.strerror or error})") from None


def main(argv: list[str] | None = None, *, own_process: bool = False) -> int:
    """Run the command; returns the exit code (0 ok, 2 bad input, 130 interrupted). `own_process`: the process
    ends with the command (the console script), so what the imports allocate is frozen out of the collector."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    _import_library(scoring=not args.layers, freeze=own_process)
    from estimator.commands import run_command

    return run_command("estimate", lambda: _run(args))


def _import_library(scoring: bool, freeze: bool) -> None:
    """Import what the command runs on (graph, pandas, onnx; with `scoring`, the profiles and CatBoost) with the
    cyclic collector paused: the imports allocate some 70,000 objects that live as long as the process, and the
    200 collections that would run among them cost a tenth of the imports (0.04 s). With `freeze` they are then
    moved out of the collector's reach, or the first full collection would still traverse them all (0.02 s)."""
    from estimator.deferred import FOR_SCORING, defer

    collecting = gc.isenabled()
    gc.disable()
    try:
        for name in FOR_SCORING:  # what CatBoost's imports bring but scoring never reads (0.04 s; 0.3 s with IPython)
            defer(name)
        importlib.import_module("estimator.commands")  # graph, pandas, onnx
        if scoring:
            importlib.import_module("estimator.predict.estimation")  # the profiles, CatBoost, the renderers
    finally:
        if freeze:
            gc.freeze()
        if collecting:
            gc.enable()


def _run(args: argparse.Namespace) -> int:
    from estimator.commands import EXIT_OK
    from estimator.errors import UsageError

    if args.list_profiles:
        from estimator.errors import printable
        from estimator.predict.profiles import list_profiles
        from estimator.predict.selection import rank_profiles

        infos = {info.path: info for info in list_profiles()}
        lines = ["\t".join(printable(field) for field in (
            p.id, p.origin, "runtime+power" if p.has_power else "runtime only", f"distance {choice.distance:g}",
            p.description, _fingerprint_text(p.fingerprint)))
            for choice in rank_profiles(args.threads) if (p := infos.get(choice.path)) is not None]
        _write("\n".join(lines) + "\n", args.output)
        return EXIT_OK
    if not args.models:
        raise UsageError("no MODEL given; usage: estimate MODEL [MODEL ...] (see --help)")
    batch_sizes = _parse_sizes(args.batch_size, f"--batch-size {args.batch_size}") if args.batch_size is not None else [None]
    dims = _parse_dims(args.dim)
    if args.require_modeled is not None and not 0 <= args.require_modeled <= 1:
        raise UsageError(f"--require-modeled {args.require_modeled}: must be a share from 0 to 1, e.g. 0.95")
    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads {args.threads}: must be at least 1")
    shapes = _parse_shapes(args.input_shape)
    swept = [f"--dim {name}" for name, sizes in dims.items() if len(sizes) > 1]
    swept = (["--batch-size"] if len(batch_sizes) > 1 else []) + swept
    if swept and not args.layers and args.profile is None:
        _calibrate_on_first_use(args)
    if swept:
        return _curve(args, swept, batch_sizes, dims, shapes)
    batch_size = batch_sizes[0]
    dimensions = {name: sizes[0] for name, sizes in dims.items()} or None
    if args.layers:
        from estimator.predict.render.layers import render_layers

        texts, failed = [], False
        for model in args.models:  # each model's failure is its own line; the others are still listed
            try:
                texts.append(render_layers(model, batch_size, shapes, args.format, dimensions))
            except _project_errors() as error:
                _report_model_error(error)
                failed = True
        if texts:
            _write("".join(texts), args.output)
        return _exit_code(failed)
    if args.profile is None:
        _calibrate_on_first_use(args)
    if len(args.models) == 1:
        from estimator.predict.estimation import estimate
        from estimator.predict.render import render

        report = estimate(args.models[0], args.profile, batch_size, shapes or None, dimensions, args.threads)
        _write(render(report, args.format, args.top), args.output)
        return _check_modeled([report], args.require_modeled)
    return _estimate_many(args, batch_size, shapes, dimensions)


def _calibrate_on_first_use(args: argparse.Namespace) -> None:
    """Measure a profile of this machine when asked (--calibrate), or on a first call in a terminal when no profile
    of this machine exists. A busy machine stores nothing: the estimate then uses the nearest profile, as it says."""
    from estimator.commands import report_note
    from estimator.predict.fingerprint import ort_default_threads
    from estimator.predict.selection import choose_profile

    threads = args.threads or ort_default_threads()
    budget_s = args.calibrate
    if budget_s is None:
        choice = choose_profile(threads)
        if choice.of_this_machine or not _may_calibrate_by_itself(args, threads):
            return
        budget_s = FIRST_RUN_BUDGET_S
        report_note("estimate", f"no profile of this machine at {threads} thread(s) yet (nearest: {choice.profile_id}, "
                                 f"distance {choice.distance:g}); measuring one now, once: {budget_s:.0f} s "
                                 f"(--no-calibrate or {AUTO_CALIBRATE_VARIABLE}=0 skips it)")
    from estimator.calibrate import calibrate_machine
    from estimator.commands import configure_logging
    from estimator.errors import MachineBusyError

    configure_logging(budget_s)
    try:
        calibrated = calibrate_machine(budget_s, threads, command=f"estimate --calibrate {budget_s:g}",
                                       busy_guard=True, curve_strategies=None)
    except MachineBusyError as error:
        from estimator.files import write_atomic

        write_atomic(_first_use_state(), json.dumps({"busy_at": time.time(), "threads": threads}))
        report_note("estimate", f"{error}; estimating with the nearest profile")
        return
    report_note("estimate", f"profile of this machine written to {calibrated.profile_dir} in "
                            f"{calibrated.duration_s:.0f} s")


def _may_calibrate_by_itself(args: argparse.Namespace, threads: int) -> bool:
    """Only a person at a terminal gets a first-use calibration: pipelines, CI and libraries never measure unasked
    (a profile of a shared CI runner is a profile of its neighbours); nor again within an hour of a busy try."""
    if args.no_calibrate or os.environ.get(AUTO_CALIBRATE_VARIABLE, "").lower() in ("0", "no", "false", "off"):
        return False
    if os.environ.get("CI") or not (sys.stdin.isatty() and sys.stderr.isatty()):
        return False
    try:
        state = json.loads(_first_use_state().read_text())
        return not (state.get("threads") == threads and time.time() - float(state["busy_at"]) < BUSY_RETRY_S)
    except (OSError, ValueError, KeyError, TypeError):
        return True


def _first_use_state() -> Path:
    from estimator.predict.userdata import user_data_dir

    return user_data_dir() / "first-use.json"


def _curve(args: argparse.Namespace, swept: list[str], batch_sizes: list, dims: dict[str, list[int]],
           shapes: dict[str, tuple[int, ...]]) -> int:
    """One model over several sizes of one dimension: one report with a point per size."""
    from estimator.errors import UsageError
    from estimator.predict.curve import estimate_curve
    from estimator.predict.render import render_curve

    if len(swept) > 1:
        raise UsageError(f"a curve sweeps one dimension; several sizes were given to {' and '.join(swept)}: "
                         "give several to one of them")
    if len(args.models) > 1:
        raise UsageError(f"a curve ({swept[0]} with several sizes) takes one MODEL, got {len(args.models)}")
    if args.layers:
        raise UsageError(f"--layers lists one model's layers: give {swept[0]} one size")
    batch_size = batch_sizes if len(batch_sizes) > 1 else batch_sizes[0]
    dimensions = {name: sizes if len(sizes) > 1 else sizes[0] for name, sizes in dims.items()} or None
    curve = estimate_curve(args.models[0], args.profile, batch_size, shapes or None, dimensions, threads=args.threads)
    _write(render_curve(curve, args.format), args.output)
    least = min(curve.reports, key=lambda report: report.totals.macs_modeled_share)  # one line, not one per point
    return _check_modeled([least], args.require_modeled)


def _check_modeled(reports, required: float | None) -> int:
    """EXIT_INCOMPLETE (with one line per model) when a report's share of MACs modeled is below `required`."""
    from estimator.commands import EXIT_INCOMPLETE, EXIT_OK, report_error

    short = [r for r in reports if required is not None and r.totals.macs_modeled_share < required]
    for report in short:
        reasons = "; ".join(report.totals.lower_bound_reasons) or "see the report"
        report_error("estimate", f"{report.model}: {report.totals.macs_modeled_share * 100:.1f}% of MACs modeled, "
                                 f"below --require-modeled {required:g} ({reasons})")
    return EXIT_INCOMPLETE if short else EXIT_OK


def _estimate_many(args: argparse.Namespace, batch_size: int | None, shapes: dict[str, tuple[int, ...]],
                   dimensions: dict[str, int] | None) -> int:
    """Several models: read in parallel, scored together and compared (cheapest first); each failure is that
    model's one line."""
    from concurrent.futures import ProcessPoolExecutor
    from contextlib import nullcontext

    from estimator.errors import EstimatorError
    from estimator.predict.estimation import estimate_many
    from estimator.predict.render import render_summary

    workers = min(len(args.models), os.cpu_count() or 1)
    with ProcessPoolExecutor(max_workers=workers) if workers > 1 else nullcontext() as pool:
        results = estimate_many(args.models, args.profile, batch_size, shapes or None, dimensions, executor=pool,
                                return_errors=True, threads=args.threads)
    reports, failed = [], False
    for model, result in zip(args.models, results, strict=True):
        if not isinstance(result, Exception):
            reports.append(result)
            continue
        failed = True
        if not isinstance(result, _project_errors()):  # a bug, but only this model's: the others still report
            result = EstimatorError(f"{model}: internal error ({type(result).__name__}: {result}); please report it")
        _report_model_error(result)
    if reports:
        _write(render_summary(reports, args.format), args.output)
    if failed:
        return _exit_code(failed)
    return _check_modeled(reports, args.require_modeled)


def _project_errors() -> tuple[type[Exception], ...]:
    from estimator.errors import PROJECT_ERRORS

    return PROJECT_ERRORS


def _report_model_error(error: BaseException) -> None:
    from estimator.commands import report_error

    report_error("estimate", error)


def _exit_code(failed: bool) -> int:
    from estimator.commands import EXIT_BAD_INPUT, EXIT_OK

    return EXIT_BAD_INPUT if failed else EXIT_OK


def entrypoint() -> None:
    """Console-script entry point."""
    code = main(own_process=True)
    # The process ends here: its 70,000 objects (numpy, pandas, CatBoost, the model) need not be traversed once
    # more by the collections the interpreter runs while it shuts down (0.05-0.1 s). Exit handlers still run and
    # standard streams are still flushed; only unreachable cycles are left to the operating system.
    gc.freeze()
    raise SystemExit(code)


if __name__ == "__main__":
    entrypoint()
