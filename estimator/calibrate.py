"""`estimate-calibrate`: measure this machine within a time budget and write a profile for it.

Kernels are timed in context (whole graphs under ONNX Runtime, with its profiler), spent where the
base profile is least sure of this machine, and learnt by transfer from the base profile (the
shipped kernel profile nearest to this machine). The profile goes to the user's data folder
(`--out` overrides) and `estimate` then uses it by default on this machine; its path is the last
line printed. Ctrl-C or a rerun of the same command resumes without measuring again what was
measured. `estimate --calibrate` runs the same, shorter, as a first use on a new machine.
"""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from estimator.commands import configure_logging, run_command
from estimator.errors import MachineBusyError, UsageError
from estimator.measure.backends.ort import OrtBackend, OrtSettings
from estimator.measure.calibration import CalibrationPlan, run_calibration
from estimator.measure.load import LoadMeter, LoadReading
from estimator.measure.progress import budget_progress
from estimator.predict.fingerprint import machine_fingerprint, ort_default_threads
from estimator.predict.profiles import Profile, list_profiles, load_profile
from estimator.predict.selection import rank_profiles
from estimator.predict.units import KERNELS
from estimator.predict.userdata import user_profile_dir, user_training_dir
from estimator.train.calibration import write_calibration_evaluation
from estimator.train.transfer import AUTO, CHOICES, STRATEGIES, train_transferred

__all__ = ["FIRST_RUN_BUDGET_S", "Calibrated", "calibrate_machine", "entrypoint", "main", "nearest_kernel_profile",
           "refuse_if_busy"]

RESUME_HINT = "what was measured is kept; rerun the same command to resume"
TRAINING_SHARE = 0.12  # of the budget kept for training and writing the profile (at least 8 s)
FIRST_RUN_BUDGET_S = 60.0  # `estimate --calibrate`: on an unseen Zen 4 VM, 60 s put 11 of 11 CNNs within ±10%
# The busy-machine guard of a short calibration: the other processes' mean CPU use while it measured.
MAX_OTHER_CORES = 0.3


@dataclass(frozen=True)
class Calibrated:
    """A profile measured on this machine: where it is, how long it took and how busy the machine was."""

    profile_dir: Path
    duration_s: float
    load: LoadReading | None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="estimate-calibrate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=float, default=600.0, metavar="SECONDS",
                        help="time for measuring and training, in seconds (default: 600)")
    parser.add_argument("--threads", type=int, help="ONNX Runtime intra-op threads the profile is for (default: "
                                                    "ONNX Runtime's own default on this machine)")
    parser.add_argument("--id", help="profile id (default: from this machine's CPU, the threads and the date)")
    parser.add_argument("--out", type=Path, help="profile folder (default: the user's profile folder / ID)")
    parser.add_argument("--base", metavar="PROFILE",
                        help="kernel profile to transfer from (default: the shipped kernel profile nearest to this "
                             "machine)")
    parser.add_argument("--strategy", choices=CHOICES, default=AUTO,
                        help="how the base profile is corrected: continue its boosting, fit from scratch, scale it "
                             "(default: auto, whichever of continue and scratch predicts this machine's held-out "
                             "graphs better)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.budget)
    command = shlex.join(["estimate-calibrate", *(argv if argv is not None else sys.argv[1:])])
    return run_command("estimate-calibrate", lambda: _calibrate(args, command), interrupted=RESUME_HINT)


def entrypoint() -> None:
    raise SystemExit(main())


def _calibrate(args: argparse.Namespace, command: str) -> int:
    calibrated = calibrate_machine(args.budget, args.threads, args.base, args.id, args.out, args.strategy, command)
    print(calibrated.profile_dir)
    return 0


def nearest_kernel_profile(threads: int) -> Profile:
    """The shipped kernel profile nearest to this machine at `threads`: what a calibration transfers from."""
    shipped_units = {info.path: info.unit for info in list_profiles() if info.origin == "shipped"}
    for choice in rank_profiles(threads):
        if shipped_units.get(choice.path) == KERNELS.name:
            return load_profile(choice.path)
    raise UsageError("no shipped kernel profile to transfer from; reinstall the package")


def calibrate_machine(budget_s: float, threads: int | None = None, base: str | Path | None = None,
                      profile_id: str | None = None, out: Path | None = None, strategy: str = AUTO,
                      command: str = "", busy_guard: bool = False,
                      curve_strategies: tuple[str, ...] | None = STRATEGIES) -> Calibrated:
    """Measure this machine for `budget_s` seconds (measuring and training) and write a profile of it.

    With `busy_guard`, a calibration that ran beside other work (estimator.measure.load) stores nothing and
    raises MachineBusyError: a short calibration has no time to measure again what a neighbour slowed.
    `curve_strategies`: those the evaluation's budget curve compares (None: the strategy trained with).
    """
    started = time.monotonic()
    if budget_s < 15:
        raise UsageError(f"budget {budget_s:g} s: at least 15 seconds (60 make a useful profile, 600 a good one)")
    threads = threads or ort_default_threads()
    if threads < 1:
        raise UsageError(f"--threads {threads}: must be at least 1")
    base_profile = nearest_kernel_profile(threads) if base is None else load_profile(base)
    if base_profile.unit is not KERNELS:  # a calibration times kernels in context (run_calibration)
        raise UsageError(f"--base {base}: a kernel profile is needed (this one scores isolated layers)")
    fingerprint = machine_fingerprint(threads)
    profile_id = profile_id or _default_id(fingerprint)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", profile_id):
        raise UsageError(f"--id {profile_id!r}: use letters, digits, '.', '_' and '-' (at most 64)")
    out = out or user_profile_dir() / profile_id
    data = user_training_dir() / profile_id
    backend = OrtBackend(OrtSettings(intra_op_threads=threads))
    deadline = started + budget_s - max(8.0, TRAINING_SHARE * budget_s)
    meter = LoadMeter()
    run_calibration(data, backend, base_profile, CalibrationPlan(), deadline, progress=budget_progress(deadline),
                    command=command)
    load = meter.read()
    if busy_guard:
        refuse_if_busy(data, load, threads)
    origin = {"budget_s": budget_s, "command_line": command, "training_data": str(data),
              "machine_load": None if load is None else load.to_dict()}
    description = (f"{fingerprint['cpu_model']} ({fingerprint['cpu_family_model_stepping']}), onnxruntime {threads} "
                   f"thread(s), calibrated in {budget_s:.0f} s from {base_profile.id}")
    manifest = train_transferred(data, out, profile_id, base_profile, strategy, description, origin)
    chosen = manifest["origin"]["strategy"]
    write_calibration_evaluation(data, out, manifest, base_profile, chosen, curve_strategies or (chosen,))
    return Calibrated(out, time.monotonic() - started, load)


def refuse_if_busy(data: Path, load: LoadReading | None, threads: int) -> None:
    """Raise MachineBusyError (and drop what was measured) when other processes ran beside the calibration.

    The other processes' CPU time is the signal, not the drift guard's reference graph: on a quiet 2-vCPU VM
    that 1 ms graph still jumps by up to 43% now and then (the Zen 4 collection's 22 reference timings)."""
    if load is None or load.other_cores <= MAX_OTHER_CORES:
        return
    stolen = f", {load.steal_cores:.2f} of them taken by the hypervisor" if load.steal_cores > 0.05 else ""
    shutil.rmtree(data, ignore_errors=True)  # slow timings must not seed the next attempt
    raise MachineBusyError(f"the machine was busy while measuring at {threads} thread(s) (other processes used "
                           f"{load.other_cores:.2f} CPU cores on average{stolen}): no profile stored; run it again "
                           "when the machine is quiet")


def _default_id(fingerprint: dict) -> str:
    cpu = re.sub(r"[^a-z0-9]+", "-", str(fingerprint["cpu_model"]).lower()).strip("-")[:40] or "cpu"
    family, model, *_ = [*str(fingerprint.get("cpu_family_model_stepping", "")).split("/"), "", ""]
    design = f"-f{family}m{model}" if family.isdigit() and model.isdigit() else ""
    return f"{cpu}{design}-{fingerprint['intra_op_threads']}t-{datetime.now(timezone.utc):%Y%m%d}"


if __name__ == "__main__":
    entrypoint()
