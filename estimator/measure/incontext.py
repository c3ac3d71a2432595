"""Kernels timed in context: a whole graph runs in two ONNX Runtime sessions, one plain and one with
the runtime's profiler, alternating run by run.

The profiled runs give every kernel's time inside the graph (after the kernels before it, with the
layout and fusions the runtime chose); the plain runs beside them give the end-to-end latency of the
same machine state. Because the two take turns, neither may spin while idle; a user's session
spins. So with an intra-op pool (2 threads or more) the end-to-end truth is then timed once more in
a session as users make it (ONNX Runtime's defaults, spinning on), after the two are gone; with 1
thread there is no pool and the plain runs are that session. The profiler adds a little to each
kernel it times, and spinning saves a little at each; the composition fitted at training time
measures both against the truth (see estimator.train.composition).
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from estimator.errors import MeasureError
from estimator.measure.backends.ort import OrtBackend
from graph.build import RunnableModel
from graph.kernels import Kernel

__all__ = ["SPINNING_NOTE", "GraphTiming", "KernelTiming", "RunPolicy", "kernel_signature", "match_kernels",
           "time_graph"]

QUANTILE = 20  # the statistic of every time: a low percentile, which a busy neighbour barely moves
SPINNING_NOTE = (
    "idle intra-op threads do not spin (session.intra_op.allow_spinning=0) in the plain and the profiled session: "
    "they take turns, and a spinning idle pool takes a core from the other (resnet18 at batch 1, 2 threads, 2-core "
    "VM: 50.9 ms alternating with spinning pools, 21.1 ms without; a single spinning session alone: 20.7 ms); with "
    "2 threads or more, end_to_end_ms is then timed alone in a session with ONNX Runtime's defaults (spinning on), "
    "as users run it, and the alternating plain runs' time is kept as alternating_end_to_end_ms")

Signature = tuple[str, tuple[int, ...] | None, tuple[int, ...] | None]


@dataclass(frozen=True)
class RunPolicy:
    """How many alternating (plain, profiled) run pairs a graph gets."""

    warmup_runs: int = 2
    min_runs: int = 10
    min_time_s: float = 0.6  # wall time of the measured pairs
    max_runs: int = 200
    slow_run_s: float = 0.5  # a graph slower than this per run needs only `slow_min_runs`
    slow_min_runs: int = 5


@dataclass(frozen=True)
class KernelTiming:
    """One kernel as the profiler saw it: its runtime op and shapes, and its times (ms) over the runs."""

    node_name: str
    signature: Signature
    quantile_ms: float
    median_ms: float


@dataclass(frozen=True)
class GraphTiming:
    """End-to-end and per-kernel times of one graph, from the same alternating loop."""

    runs: int
    end_to_end_ms: float  # QUANTILE of the runs of a session as users make it (the plain runs at 1 thread)
    end_to_end_median_ms: float
    profiled_end_to_end_ms: float  # QUANTILE of the profiled runs (profiler overhead included)
    kernel_sum_ms: float  # sum of every kernel's QUANTILE
    kernels: tuple[KernelTiming, ...]  # in execution order
    alternating_end_to_end_ms: float  # QUANTILE of the plain runs that took turns with the profiled ones


def time_graph(backend: OrtBackend, model: RunnableModel, policy: RunPolicy | None = None) -> GraphTiming:
    """Time one graph (weights filled, input shapes fixed) end to end and per kernel."""
    policy = policy or RunPolicy()
    with tempfile.TemporaryDirectory(prefix="incontext-") as folder:
        # The two sessions take turns, so neither may spin while idle (SPINNING_NOTE).
        plain = backend.session(model, spinning=False)
        profiled = backend.session(model, profile_prefix=str(Path(folder) / "profile"), spinning=False)
        outputs = [output.name for output in plain.get_outputs()]
        feeds = model.feeds
        try:
            for _ in range(policy.warmup_runs):
                plain.run(outputs, feeds)
                profiled.run(outputs, feeds)
        except Exception as error:  # ORT raises its own types; e.g. a detector whose random input finds nothing
            raise MeasureError(f"{model.name}: ONNX Runtime failed running it: {str(error).splitlines()[0]}") from None
        plain_s: list[float] = []
        started = time.perf_counter()
        while len(plain_s) < policy.max_runs:
            before = time.perf_counter()
            plain.run(outputs, feeds)
            plain_s.append(time.perf_counter() - before)
            profiled.run(outputs, feeds)
            enough = policy.slow_min_runs if plain_s[0] > policy.slow_run_s else policy.min_runs
            if len(plain_s) >= enough and time.perf_counter() - started >= policy.min_time_s:
                break
        profile_path = profiled.end_profiling()
        try:
            events = json.loads(Path(profile_path).read_text())
        finally:
            os.remove(profile_path)
        del plain, profiled  # their thread pools go before the users' session starts its own
    timing = _summarize(events, np.asarray(plain_s) * 1e3, policy.warmup_runs)
    if backend.settings.intra_op_threads <= 1:
        return timing
    users_ms = _time_users_session(backend, model, policy, plain_s[0])
    return dataclasses.replace(timing, end_to_end_ms=float(np.percentile(users_ms, QUANTILE)),
                               end_to_end_median_ms=float(np.median(users_ms)))


def _time_users_session(backend: OrtBackend, model: RunnableModel, policy: RunPolicy, first_run_s: float) -> np.ndarray:
    """Milliseconds per run of the model alone in a session with ONNX Runtime's defaults (spinning on)."""
    session = backend.session(model, spinning=True)
    outputs = [output.name for output in session.get_outputs()]
    for _ in range(policy.warmup_runs):
        session.run(outputs, model.feeds)
    times_s: list[float] = []
    enough = policy.slow_min_runs if first_run_s > policy.slow_run_s else policy.min_runs
    started = time.perf_counter()
    while len(times_s) < policy.max_runs and (len(times_s) < enough or time.perf_counter() - started < policy.min_time_s):
        before = time.perf_counter()
        session.run(outputs, model.feeds)
        times_s.append(time.perf_counter() - before)
    return np.asarray(times_s) * 1e3


def _summarize(events: list[dict], plain_ms: np.ndarray, warmup_runs: int) -> GraphTiming:
    runs = [event for event in events if event.get("name") == "model_run"]
    kernels = [event for event in events if event.get("cat") == "Node" and str(event.get("name", "")).endswith("_kernel_time")]
    if not runs or len(kernels) % len(runs):
        raise MeasureError(f"the profile has {len(kernels)} kernel events over {len(runs)} runs; cannot split it by run")
    per_run = len(kernels) // len(runs)
    measured = kernels[per_run * warmup_runs:]
    count = len(measured) // per_run
    durations_ms = np.array([event["dur"] for event in measured], dtype=np.float64).reshape(count, per_run) / 1e3
    quantiles = np.percentile(durations_ms, QUANTILE, axis=0)
    medians = np.median(durations_ms, axis=0)
    timings = tuple(
        KernelTiming(event["name"].removesuffix("_kernel_time"), _signature(event), float(q), float(m))
        for event, q, m in zip(measured[:per_run], quantiles, medians, strict=True)
    )
    run_ms = np.array([event["dur"] for event in runs[warmup_runs:]], dtype=np.float64) / 1e3
    return GraphTiming(
        runs=count,
        end_to_end_ms=float(np.percentile(plain_ms, QUANTILE)),
        end_to_end_median_ms=float(np.median(plain_ms)),
        profiled_end_to_end_ms=float(np.percentile(run_ms, QUANTILE)),
        kernel_sum_ms=float(quantiles.sum()),
        kernels=timings,
        alternating_end_to_end_ms=float(np.percentile(plain_ms, QUANTILE)),
    )


def _signature(event: dict) -> Signature:
    args = event.get("args", {})

    def first_shape(entries) -> tuple[int, ...] | None:
        if not entries:
            return None
        return tuple(int(d) for d in next(iter(entries[0].values())))

    return str(args.get("op_name", "")), first_shape(args.get("input_type_shape")), first_shape(args.get("output_type_shape"))


def kernel_signature(kernel: Kernel) -> Signature:
    """What the profiler will report for this kernel: its runtime op and physical shapes."""
    return kernel.op_type, kernel.input_shape, kernel.output_shape


def match_kernels(kernels: Sequence[Kernel], timing: GraphTiming) -> tuple[list[KernelTiming | None], int]:
    """Pair each of our kernels with a profiled one of the same signature (in order within a signature).

    Returns one timing (or None) per kernel and how many profiled kernels stayed unpaired.
    """
    pool: dict[Signature, list[KernelTiming]] = defaultdict(list)
    for timed in timing.kernels:
        pool[timed.signature].append(timed)
    paired: list[KernelTiming | None] = []
    for kernel in kernels:
        candidates = pool.get(kernel_signature(kernel))
        paired.append(candidates.pop(0) if candidates else None)
    return paired, sum(len(left) for left in pool.values())
