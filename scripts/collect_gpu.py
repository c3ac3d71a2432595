#!/usr/bin/env python3
"""One command that collects a GPU's training data with PyTorch, within a time budget.

In order: open the power sensor (NVML on a GPU), measure how often its energy counter updates
and choose the loop window from it, measure idle power; measure every distinct layer
configuration of the zoo models at the chosen batch sizes (models ordered so that as many as
possible are complete if time runs out); time every zoo model end to end (models.csv); spend
what is left of the budget on a seeded sweep of sampled configurations; measure idle power
again; add the run's facts to device.json; pack training_data/<device-id>/ into
<out>/<device-id>.tar.gz. A rerun of the same command resumes from journal.jsonl.
(estimator.measure.gpu_collection does the work; nothing here needs CatBoost.)

Layers run as torch calls (estimator/measure/backends/pytorch/); whole models run as their ONNX
graph executed node by node in torch (the same graph whose layers are measured), or, with
--end-to-end torchvision, as the torchvision modules.

Examples:
  PYTHONUNBUFFERED=1 python scripts/collect_gpu.py --out "$OUT" --budget-s 480
  python scripts/collect_gpu.py --device cpu --sensor none --device-id cpu-torch --models lenet \\
      --batch-sizes 1 --budget-s 20 --out /tmp/out
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from estimator.commands import configure_logging, run_command
from estimator.measure.gpu_collection import GpuRunOptions, collect_gpu_data
from estimator.measure.sensors import SENSOR_NAMES
from estimator.measure.sweep import SweepLimits

ROOT = Path(__file__).resolve().parents[1]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_argument_group("where")
    where.add_argument("--device-id", default="gpu-h200-nvml", help="folder under --data-dir (default: gpu-h200-nvml)")
    where.add_argument("--data-dir", type=Path, default=ROOT / "training_data", help="default: training_data/")
    where.add_argument("--zoo-dir", type=Path, default=ROOT / "training_data" / "zoo",
                       help="shape-only zoo models (default: training_data/zoo)")
    where.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or "out"),
                       help="where the archive goes (default: $OUT, else ./out)")
    what = parser.add_argument_group("what")
    what.add_argument("--budget-s", type=float, default=480.0,
                      help="seconds for the whole run, archive included (default: 480)")
    what.add_argument("--models", nargs="+", default=["all"], help="zoo models, or 'all' (default: all)")
    what.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 8, 32], help="default: 1 8 32")
    what.add_argument("--end-to-end", choices=("onnx", "torchvision", "none"), default="onnx",
                      help="whole-model timing: the ONNX graph run in torch (default), torchvision modules, or none")
    for layer_type, flag, cap in (("convolutions", "conv", 6000), ("poolings", "pool", 1500),
                                  ("dense layers", "dense", 2000), ("other ops", "other", 3500)):
        what.add_argument(f"--sweep-{flag}", type=int, default=cap, help=f"at most this many sampled {layer_type}")
    what.add_argument("--sweep-seed", type=int, default=0, help="seed of the sweep (default: 0)")
    what.add_argument("--max-macs", type=float, default=SweepLimits.max_macs, help="cap on one sampled layer's MACs")
    how = parser.add_argument_group("how")
    how.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help="where torch runs (default: cuda)")
    how.add_argument("--gpu-index", type=int, default=0,
                     help="CUDA device index; the NVML sensor follows CUDA_VISIBLE_DEVICES to the same GPU (default: 0)")
    how.add_argument("--sensor", default="auto", choices=("auto", *SENSOR_NAMES),
                     help="power sensor; auto: NVML on cuda, else the first available (default: auto)")
    how.add_argument("--min-window-s", type=float,
                     help="seconds each layer loop's power window lasts at least (default: from the sensor)")
    how.add_argument("--no-align", action="store_true",
                     help="do not align windows to energy-counter updates (then window = update interval / 0.02)")
    how.add_argument("--warmup-s", type=float, help="warm-up seconds per layer (default: 0.01)")
    how.add_argument("--model-min-time-s", type=float, help="seconds each end-to-end loop runs at least")
    how.add_argument("--max-cv", type=float, default=0.25, help="re-measure when the loop's CV is above this")
    how.add_argument("--max-attempts", type=int, default=2, help="measurements per configuration at most")
    how.add_argument("--idle-seconds", type=float, default=2.0, help="idle-power seconds before and after")
    how.add_argument("--dtype", default="float32", choices=("float32", "float16", "bfloat16"))
    how.add_argument("--tf32", action="store_true", help="allow TF32 for float32 convolutions and matmuls")
    how.add_argument("--cudnn-benchmark", action="store_true", help="let cuDNN benchmark each configuration")
    how.add_argument("--threads", type=int, help="torch CPU threads (default: torch's own)")
    return parser


def options_from(args: argparse.Namespace, command_line: str) -> GpuRunOptions:
    return GpuRunOptions(
        data_dir=args.data_dir, zoo_dir=args.zoo_dir, out=args.out, device_id=args.device_id, budget_s=args.budget_s,
        models=tuple(args.models), batch_sizes=tuple(args.batch_sizes), end_to_end=args.end_to_end,
        sweep_caps={"convolutional": args.sweep_conv, "pooling": args.sweep_pool, "dense": args.sweep_dense,
                    "other": args.sweep_other},
        sweep_seed=args.sweep_seed, max_macs=int(args.max_macs), device=args.device, gpu_index=args.gpu_index,
        sensor=args.sensor, min_window_s=args.min_window_s, align=not args.no_align, warmup_s=args.warmup_s,
        model_min_time_s=args.model_min_time_s, max_cv=args.max_cv, max_attempts=args.max_attempts,
        idle_seconds=args.idle_seconds, dtype=args.dtype, tf32=args.tf32, cudnn_benchmark=args.cudnn_benchmark,
        threads=args.threads, command_line=command_line)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(budget_s=args.budget_s)
    command = shlex.join(["scripts/collect_gpu.py", *(argv if argv is not None else sys.argv[1:])])

    def collect() -> int:
        print(collect_gpu_data(options_from(args, command)).summary(), flush=True)
        return 0

    return run_command("collect_gpu", collect, interrupted="what was measured is kept in journal.jsonl and packed; "
                                                          "rerun the same command to resume")


if __name__ == "__main__":
    raise SystemExit(main())
