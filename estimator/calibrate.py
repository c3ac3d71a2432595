"""`estimate-calibrate`: measure this machine within a time budget and write a profile for it.

Kernels are timed in context (whole graphs under ONNX Runtime, with its profiler), spent where the
base profile is least sure of this machine, and learnt by transfer from the base profile. The
profile goes to the user's data folder (`--out` overrides) and `estimate` then uses it by default on
this machine; its path is the last line printed. Ctrl-C or a rerun of the same command resumes
without measuring again what was measured.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from estimator.commands import configure_logging, run_command
from estimator.errors import UsageError
from estimator.measure.backends.ort import OrtBackend, OrtSettings
from estimator.measure.calibration import CalibrationPlan, run_calibration
from estimator.measure.progress import budget_progress
from estimator.predict.fingerprint import machine_fingerprint, ort_default_threads
from estimator.predict.profiles import DEFAULT_PROFILE, load_profile
from estimator.predict.userdata import user_profile_dir, user_training_dir
from estimator.train.calibration import write_calibration_evaluation
from estimator.train.profiles import train_profile
from estimator.train.transfer import STRATEGIES, fit_transfer

__all__ = ["entrypoint", "main"]

RESUME_HINT = "what was measured is kept; rerun the same command to resume"
TRAINING_SHARE = 0.12  # of the budget kept for training and writing the profile (at least 8 s)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="estimate-calibrate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=float, default=600.0, metavar="SECONDS",
                        help="time for measuring and training, in seconds (default: 600)")
    parser.add_argument("--threads", type=int, help="ONNX Runtime intra-op threads the profile is for (default: "
                                                    "ONNX Runtime's own default on this machine)")
    parser.add_argument("--id", help="profile id (default: from this machine's CPU, the threads and the date)")
    parser.add_argument("--out", type=Path, help="profile folder (default: the user's profile folder / ID)")
    parser.add_argument("--base", metavar="PROFILE", default=DEFAULT_PROFILE,
                        help=f"kernel profile to transfer from (default: the shipped {DEFAULT_PROFILE})")
    parser.add_argument("--strategy", choices=STRATEGIES, default="continue",
                        help="how the base profile is corrected (default: continue its boosting)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.budget)
    command = shlex.join(["estimate-calibrate", *(argv if argv is not None else sys.argv[1:])])
    return run_command("estimate-calibrate", lambda: _calibrate(args, command), interrupted=RESUME_HINT)


def entrypoint() -> None:
    raise SystemExit(main())


def _calibrate(args: argparse.Namespace, command: str) -> int:
    started = time.monotonic()
    if args.budget < 15:
        raise UsageError(f"--budget {args.budget:g}: at least 15 seconds (600 or more make a good profile)")
    threads = args.threads or ort_default_threads()
    if threads < 1:
        raise UsageError(f"--threads {threads}: must be at least 1")
    base = load_profile(args.base)
    if base.unit != "kernels":
        raise UsageError(f"--base {args.base}: a kernel profile is needed (this one scores isolated layers)")
    fingerprint = machine_fingerprint(threads)
    profile_id = args.id or _default_id(fingerprint)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", profile_id):
        raise UsageError(f"--id {profile_id!r}: use letters, digits, '.', '_' and '-' (at most 64)")
    out = args.out or user_profile_dir() / profile_id
    data = user_training_dir() / profile_id
    backend = OrtBackend(OrtSettings(intra_op_threads=threads))
    reserve = max(8.0, TRAINING_SHARE * args.budget)
    deadline = started + args.budget - reserve
    run_calibration(data, backend, base, CalibrationPlan(), deadline, progress=budget_progress(deadline),
                    command=command)
    origin = {"kind": "calibrated", "base_profile": base.id, "strategy": args.strategy, "budget_s": args.budget,
              "command_line": command, "training_data": str(data)}
    description = (f"{fingerprint['cpu_model']}, onnxruntime {threads} thread(s), calibrated in {args.budget:.0f} s "
                   f"from {base.id}")
    train_profile(data, out, profile_id, description, fit=lambda frames: fit_transfer(frames, base.models, args.strategy),
                  origin=origin)
    write_calibration_evaluation(data, out, base, args.strategy)
    print(out)
    return 0


def _default_id(fingerprint: dict) -> str:
    cpu = re.sub(r"[^a-z0-9]+", "-", str(fingerprint["cpu_model"]).lower()).strip("-")[:40] or "cpu"
    return f"{cpu}-{fingerprint['intra_op_threads']}t-{datetime.now(timezone.utc):%Y%m%d}"


if __name__ == "__main__":
    entrypoint()
