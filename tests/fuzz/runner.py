"""Run seeded fuzz campaigns: build each mutant and its command line, run it in a worker process, count outcomes.

A case's outcome is `ok` (exit 0, a clean report), `error` (exit 2 with one printable line) or a
failure: `exception` (a non-project exception escaped), `hang` (over the time limit), `crash`
(the worker died), `memory` (over the memory limit), `opened` (a file other than the model's and
the profile's was opened), `bad_output`, `error_not_one_line`, `error_control_chars`,
`stderr_on_success`, `bad_exit_code`.
"""

from __future__ import annotations

import json
import os
import random
import re
import resource
import select
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from estimator.predict.formats import FORMATS
from estimator.predict.profiles import DEFAULT_PROFILE, PROFILE_DIR
from tests.fuzz.mutate_models import mutate_model
from tests.fuzz.mutate_profiles import build_profile_mutant
from tests.fuzz.seeds import model_seeds
from tests.paths import ROOT

__all__ = ["FAILURES", "Campaign", "Worker"]

FAILURES = ("exception", "hang", "crash", "memory", "opened", "bad_output", "error_not_one_line",
            "error_control_chars", "stderr_on_success", "bad_exit_code")
BATCH_SIZES = (None,) * 12 + (0, -1, 1, 2, 16, 10**9, 2**40, 2**62, 2**70)
PROFILE_BASES = (DEFAULT_PROFILE, "gpu-h200-nvml")


class Worker:
    """One `python -m tests.fuzz.worker` process, restarted after a crash, hang or memory blow-up."""

    def __init__(self, timeout_s: float, memory_mb: int, warmup: list[list[str]]) -> None:
        self.timeout_s, self.memory_mb, self.warmup = timeout_s, memory_mb, warmup
        self.process: subprocess.Popen | None = None

    def _start(self) -> None:
        read, write = os.pipe()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.fuzz.worker", str(write)], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, pass_fds=(write,), cwd=ROOT, text=True, preexec_fn=self._limit_memory,
            env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"})
        os.close(write)
        self.results = os.fdopen(read, "r")
        self.process.stdin.write(json.dumps({"argv": self.warmup}) + "\n")
        self.process.stdin.flush()
        ready = self._read(max(120.0, self.timeout_s))
        if not ready or not ready.get("ready"):
            raise RuntimeError("the fuzz worker did not start")

    def _limit_memory(self) -> None:
        """A hard backstop on address space (the RSS watch in _read kills the worker far earlier)."""
        limit = 4 * self.memory_mb << 20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    def run(self, case: dict) -> dict:
        if self.process is None or self.process.poll() is not None:
            self._start()
        try:
            self.process.stdin.write(json.dumps(case) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            return self._failed(case, "crash", "the worker was gone")
        result = self._read(self.timeout_s)
        if isinstance(result, dict) and "outcome" in result:
            return result
        return self._failed(case, *result) if isinstance(result, tuple) else self._failed(case, "crash", "no result")

    def _read(self, timeout_s: float):
        deadline = time.monotonic() + timeout_s
        while True:
            ready, _, _ = select.select([self.results], [], [], 0.1)
            if ready:
                line = self.results.readline()
                if line:
                    return json.loads(line)
                code = self.process.wait()
                return ("crash", f"worker exit {code}" + (f" ({signal.Signals(-code).name})" if code < 0 else ""))
            if _rss_mb(self.process.pid) > self.memory_mb:
                return ("memory", f"over {self.memory_mb} MB")
            if time.monotonic() > deadline:
                return ("hang", f"over {timeout_s:.0f} s")

    def _failed(self, case: dict, outcome: str, detail: str) -> dict:
        self.close()
        return {"id": case["id"], "code": None, "outcome": outcome, "detail": detail, "seconds": None}

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None


def _rss_mb(pid: int) -> float:
    """Resident memory of `pid` and its children (a multi-model run forks), in MB."""
    total = 0.0
    for candidate in [pid, *_children(pid)]:
        try:
            with open(f"/proc/{candidate}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) / 1024
        except OSError:
            continue
    return total


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            return [int(child) for child in children.read().split()]
    except OSError:
        return []


@dataclass
class Campaign:
    """A seeded run: `model_mutants` model cases and `profile_mutants` profile cases."""

    seed: int
    model_mutants: int
    profile_mutants: int
    scratch: Path
    seeds: tuple[str, ...] = ()
    timeout_s: float = 60.0
    memory_mb: int = 2048
    keep: Path | None = None  # failing cases are copied here to reproduce them
    counts: Counter = field(default_factory=Counter)
    failures: list[dict] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)  # the project errors seen, by what they say
    slowest: list[tuple[float, str]] = field(default_factory=list)
    mutations: Counter = field(default_factory=Counter)  # how often each model mutation applied

    def run(self, progress=None) -> None:
        rng = random.Random(self.seed)
        seeds = model_seeds()
        names = list(self.seeds or seeds)
        warmup = [[str(self._seed_file(seeds, "small_cnn")), "--format", fmt] for fmt in FORMATS]
        warmup.append([str(self._seed_file(seeds, "if_branches")), "--layers"])  # imports symbolic inference
        worker = Worker(self.timeout_s, self.memory_mb, warmup)
        kinds = ["model"] * self.model_mutants + ["profile"] * self.profile_mutants
        rng.shuffle(kinds)
        try:
            for number, kind in enumerate(kinds):
                folder = self.scratch / f"case{number}"
                folder.mkdir(parents=True)
                case = self._model_case(number, folder, seeds, names, rng) if kind == "model" else \
                    self._profile_case(number, folder, seeds, rng)
                result = worker.run(case)
                self.counts[(kind, result["outcome"])] += 1
                if result["seconds"] is not None:
                    self.slowest = sorted([*self.slowest, (result["seconds"], case["what"])], reverse=True)[:5]
                if result["outcome"] == "error":
                    self.errors[_error_kind(result["detail"], case["argv"])] += 1
                if result["outcome"] in FAILURES:
                    self.failures.append({**result, "kind": kind, "what": case["what"], "argv": case["argv"]})
                    if self.keep is not None:
                        shutil.copytree(folder, self.keep / f"case{number}", symlinks=True, dirs_exist_ok=True)
                shutil.rmtree(folder, ignore_errors=True)
                if progress is not None:
                    progress(number + 1, len(kinds), self.counts)
        finally:
            worker.close()

    def _seed_file(self, seeds: dict[str, bytes], name: str) -> Path:
        path = self.scratch / "seeds" / f"{name}.onnx"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(seeds[name])
        return path

    def _model_case(self, number: int, folder: Path, seeds: dict[str, bytes], names: list[str],
                    rng: random.Random) -> dict:
        seed = rng.choice(names)
        model = folder / "model.onnx"
        applied: list[str] = []
        model.write_bytes(mutate_model(seeds[seed], rng, applied))
        argv, case = _options(rng, folder, [str(model)])
        if rng.random() < 0.04:
            argv.insert(1, rng.choice((str(model), str(self._seed_file(seeds, "lenet")), str(folder / "missing.onnx"))))
            case["models"] = [str(model), argv[1]]
        roots = [str(folder), str(PROFILE_DIR), str(self.scratch / "seeds"), *case.pop("allowed", [])]
        if rng.random() < 0.5:
            case["kernels"] = str(model)  # also through the kernel extractor that kernel profiles use
        self.mutations.update(applied)
        what = f"model {seed} {'+'.join(applied) or '-'}"
        return {"id": number, "argv": argv, "allowed": roots, "what": what, **case}

    def _profile_case(self, number: int, folder: Path, seeds: dict[str, bytes], rng: random.Random) -> dict:
        base = PROFILE_DIR / rng.choice(PROFILE_BASES)
        profile = folder / "profile"
        what = build_profile_mutant(base, profile, folder / "outside", rng)
        model = self._seed_file(seeds, rng.choice(("small_cnn", "lenet", "matmul_bias", "reduce_axes_input")))
        fmt = rng.choice(FORMATS)
        argv = [str(model), "--profile", str(profile if rng.random() < 0.95 else folder / "nowhere"), "--format", fmt]
        return {"id": number, "argv": argv, "allowed": [str(profile), str(model), str(PROFILE_DIR)], "format": fmt,
                "what": f"profile {base.name} {what}"}


def _error_kind(message: str, argv: list[str]) -> str:
    """An error message without the paths and numbers that make each one unique."""
    for path in sorted(argv, key=len, reverse=True):
        if len(path) > 3:
            message = message.replace(path, "PATH")
    message = re.sub(r"'[^']*'", "'…'", message)
    message = re.sub(r"\d+", "N", message)
    return message[:110]


def _options(rng: random.Random, folder: Path, argv: list[str]) -> tuple[list[str], dict]:
    """Random command-line options for a model case."""
    case: dict = {}
    fmt = rng.choice(FORMATS)
    argv += ["--format", fmt]
    case["format"] = fmt
    batch = rng.choice(BATCH_SIZES)
    if batch is not None:
        argv += ["--batch-size", str(batch)]
    if rng.random() < 0.08:
        argv += ["--input-shape", rng.choice(("x=1x3x32x32", "x=0x3", "x=1x100000000000000000000000", "input=1x3",
                                              "x=2x3x224x224", "=1", "x=1x" + "1x" * 100 + "1"))]
    if rng.random() < 0.1:
        argv.append("--layers")
        case["layers"] = True
    if rng.random() < 0.1:
        argv += ["--top", str(rng.choice((0, 1, -3, 10**6)))]
    if rng.random() < 0.05:
        output = rng.choice((str(folder), "/dev/full", str(folder / "out.txt"), str(folder / "no" / "out.txt")))
        argv += ["--output", output]
        case["output"] = output
        case["allowed"] = [output]
    return argv, case
