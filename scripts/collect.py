#!/usr/bin/env python3
"""Measure training data on this machine: kernels timed in context (default), or layers timed alone.

--method kernels (what the shipped CPU profile uses): whole graphs (zoo models, seeded generated
networks, and unseen models for evaluation only) run under ONNX Runtime with its profiler,
alternating with plain runs; every kernel's time inside its graph and every graph's end-to-end
time go to training_data/<device-id>/ (device.json with the probed fusion rules, <model>/*.csv,
generated/*.csv, unseen/*.csv, models.csv).
--method layers: every distinct layer configuration of the zoo models, and a seeded sweep, as
one-node models (with power, where a sensor exists); the zoo models timed end to end.
Interrupt it at any time: a rerun of the same command resumes from journal.jsonl.

Examples:
  python scripts/collect.py --device-id my-cpu --models all --batch-sizes 1 --generated 40 --unseen all
  python scripts/collect.py --device-id my-laptop --models all --batch-sizes 1
  python scripts/collect.py --device-id my-laptop --models resnet18 lenet --batch-sizes 4 16
  python scripts/collect.py --device-id my-laptop --sweep-conv 2000 --sweep-pool 500 \\
      --sweep-dense 500 --sweep-other 1000 --time-budget 3600
  python scripts/collect.py --device-id jetson-orin --sensor ina3221 --min-time 0.5 --models all
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from estimator.commands import configure_logging, run_command
from estimator.errors import UsageError
from estimator.measure.backends.ort import OrtBackend, OrtSettings
from estimator.measure.budget import zoo_jobs
from estimator.measure.collector import CollectOptions, Collector, CollectPlan
from estimator.measure.kernel_collector import DriftGuard
from estimator.measure.kernel_plan import collect_in_context, file_jobs, generated_jobs, reference_job
from estimator.measure.progress import progress_callback
from estimator.measure.sensors import SENSOR_NAMES, detect_sensors, open_sensor
from estimator.measure.sweep import SweepLimits
from estimator.measure.timing import LoopPolicy
from graph.generate import FAMILIES

ROOT = Path(__file__).resolve().parents[1]
RESUME_HINT = "what was measured is kept in journal.jsonl; rerun the same command to resume"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_argument_group("where")
    where.add_argument("--device-id", required=True, help="folder name under --data-dir, e.g. cpu-epyc-1t, jetson-orin")
    where.add_argument("--data-dir", type=Path, default=ROOT / "training_data", help="default: training_data/")
    where.add_argument("--zoo-dir", type=Path, default=ROOT / "training_data" / "zoo",
                       help="shape-only zoo models (default: training_data/zoo)")
    what = parser.add_argument_group("what")
    what.add_argument("--models", nargs="*", default=[], help="zoo models to collect, or 'all' (default: none)")
    what.add_argument("--batch-sizes", nargs="+", type=int, default=[1], help="batch sizes for --models (default: 1)")
    what.add_argument("--no-end-to-end", action="store_true", help="skip timing the zoo models end to end")
    for layer_type, flag in (("convolutional", "conv"), ("pooling", "pool"), ("dense", "dense"), ("other", "other")):
        what.add_argument(f"--sweep-{flag}", type=int, default=0, help=f"sampled {layer_type} configurations")
    what.add_argument("--sweep-seed", type=int, default=0, help="seed of the sweep (default: 0)")
    what.add_argument("--max-macs", type=float, default=SweepLimits.max_macs, help="cap on one sampled layer's MACs")
    what.add_argument("--method", choices=("kernels", "layers"), default="kernels",
                      help="kernels timed inside whole graphs (default) or layers timed alone")
    what.add_argument("--generated", type=int, default=0, help="kernels: generated networks per family (default: 0)")
    what.add_argument("--generated-seed", type=int, default=0, help="kernels: first seed of the generated networks")
    what.add_argument("--families", nargs="+", choices=FAMILIES, default=list(FAMILIES), metavar="FAMILY",
                      help=f"kernels: generated families (default: all: {', '.join(FAMILIES)})")
    what.add_argument("--generated-max-macs", type=float, default=1.5e9,
                      help="kernels: cap on a generated graph's MACs, batch included (default 1.5e9; attention over "
                           "4,096 tokens needs about 2.5e9)")
    what.add_argument("--unseen", nargs="*", default=[],
                      help="kernels: models of training_data/unseen to time for evaluation only, or 'all'")
    what.add_argument("--unseen-batch-sizes", nargs="+", type=int, default=[1], help="kernels: default 1")
    what.add_argument("--modern", nargs="*", default=[],
                      help="kernels: models of training_data/modern (fixed batch 1) to time for evaluation only, or 'all'")
    how = parser.add_argument_group("how")
    how.add_argument("--sensor", default="auto", choices=("auto", *SENSOR_NAMES), help="power sensor (default: auto)")
    how.add_argument("--sensor-log", type=Path, help="with --sensor log: the meter's 'timestamp_s,power_w' log")
    how.add_argument("--rail", help="with --sensor ina3221: the rail label (default: the board's input rail)")
    how.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads (default: 1)")
    how.add_argument("--optimization", default="all", choices=("disable", "basic", "extended", "all"),
                     help="ONNX Runtime graph optimization level (default: all, as ONNX Runtime itself)")
    how.add_argument("--provider", default="CPUExecutionProvider", help="ONNX Runtime execution provider")
    how.add_argument("--min-time", type=float, default=0.1, help="seconds each layer loop runs at least (default: 0.1)")
    how.add_argument("--min-iterations", type=int, default=5, help="iterations each loop runs at least (default: 5)")
    how.add_argument("--warmup", type=float, default=0.03, help="warm-up seconds before each loop (default: 0.03)")
    how.add_argument("--max-cv", type=float, default=0.15, help="re-measure when the loop's CV is above this")
    how.add_argument("--max-attempts", type=int, default=3, help="measurements per configuration at most")
    how.add_argument("--idle-seconds", type=float, default=2.0, help="seconds of idle power measured per run")
    how.add_argument("--time-budget", type=float, help="stop after this many seconds (rerun to resume)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging()
    command = shlex.join(["scripts/collect.py", *(argv if argv is not None else sys.argv[1:])])
    return run_command("collect", lambda: _collect(args, command), interrupted=RESUME_HINT)


EVALUATION_ONLY_DIRS = (ROOT / "training_data" / "unseen", ROOT / "training_data" / "modern")


def _collect(args: argparse.Namespace, command: str) -> int:
    if args.zoo_dir.resolve() in EVALUATION_ONLY_DIRS:
        raise UsageError(f"{args.zoo_dir} is evaluation only and would be trained on as a zoo; time it with "
                         f"--{args.zoo_dir.resolve().name} instead")
    if args.method == "kernels":
        return _collect_kernels(args, command)
    jobs = zoo_jobs(args.zoo_dir, args.models, tuple(args.batch_sizes))
    detections = detect_sensors()
    sensor = open_sensor(args.sensor, log_path=args.sensor_log, rail=args.rail)
    backend = OrtBackend(OrtSettings(args.threads, 1, args.optimization, args.provider))
    policy = LoopPolicy(warmup_s=args.warmup, min_time_s=args.min_time, min_iterations=args.min_iterations)
    options = CollectOptions(policy=policy, max_cv=args.max_cv, max_attempts=args.max_attempts,
                             time_budget_s=args.time_budget, idle_seconds=args.idle_seconds)
    plan = CollectPlan(
        zoo=tuple(jobs),
        sweep_counts={"convolutional": args.sweep_conv, "pooling": args.sweep_pool,
                      "dense": args.sweep_dense, "other": args.sweep_other},
        sweep_seed=args.sweep_seed,
        sweep_limits=SweepLimits(max_macs=int(args.max_macs)),
        end_to_end=not args.no_end_to_end,
    )
    with sensor:
        summary = Collector(args.data_dir / args.device_id, backend, sensor, options, detections, command).run(plan)
    state = "complete" if summary["complete"] else "stopped at the time budget; rerun to resume"
    print(f"measured {summary['measured']} of {summary['planned']} in {summary['duration_s']} s ({state}); "
          f"wrote {args.data_dir / args.device_id}")
    return 0


def _collect_kernels(args: argparse.Namespace, command: str) -> int:
    jobs = file_jobs([job.path for job in zoo_jobs(args.zoo_dir, args.models, (1,))], "zoo", args.batch_sizes)
    jobs += generated_jobs(args.generated, args.families, args.generated_seed, max_macs=args.generated_max_macs)
    unseen = [job.path for job in zoo_jobs(ROOT / "training_data" / "unseen", args.unseen, (1,))] if args.unseen else []
    jobs += file_jobs(unseen, "unseen", args.unseen_batch_sizes)
    modern = [job.path for job in zoo_jobs(ROOT / "training_data" / "modern", args.modern, (1,))] if args.modern else []
    jobs += file_jobs(modern, "modern", (1,))
    backend = OrtBackend(OrtSettings(args.threads, 1, args.optimization, args.provider))
    deadline = time.monotonic() + args.time_budget if args.time_budget else None
    summary = collect_in_context(args.data_dir / args.device_id, jobs, backend, guard=DriftGuard(reference_job()),
                                 progress=progress_callback("graphs"), deadline=deadline, command=command)
    state = "complete" if summary["complete"] else "stopped at the time budget; rerun to resume"
    print(f"timed {summary['measured']} of {summary['planned']} graphs in {summary['duration_s']} s ({state}); "
          f"wrote {args.data_dir / args.device_id}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
