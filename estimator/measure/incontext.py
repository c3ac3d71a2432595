"""Kernels timed in context: a whole graph runs in a plain ONNX Runtime session and in one with the
runtime's profiler.

The profiled runs give every kernel's time inside the graph (after the kernels before it, with the
layout and fusions the runtime chose); the plain runs give the end-to-end latency. With 1 thread the
two take turns run by run, so both see the same machine state and a drift of the host shows in both.
With a thread pool (2 threads or more) they cannot: an idle pool that spins takes a core from the
other session, and a pool that does not spin is not what users run (it made small-kernel graphs up
to 1.9x slower on a 2-core VM). So each runs alone, spinning as ONNX Runtime defaults it, the
profiled one first. The profiler adds a little to each kernel it times; the composition fitted at
training time measures that against the plain runs (see estimator.train.composition).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
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
    "1 thread: the plain and the profiled session take turns run by run (no intra-op pool, nothing spins); 2 threads "
    "or more: each session runs alone, the profiled one first, with ONNX Runtime's default spinning, as users run it "
    "(taking turns needs allow_spinning=0, since a spinning idle pool takes a core from the other session: resnet18 "
    "at 2 threads 50.9 ms alternating with spinning pools, 21.1 ms without; but without spinning, small-kernel graphs "
    "ran up to 1.9x slower than in a user's session on a 2-core Zen 4 VM)")

Signature = tuple[str, tuple[int, ...] | None, tuple[int, ...] | None]


@dataclass(frozen=True)
class RunPolicy:
    """How many runs a graph gets (pairs of plain and profiled runs, or each session's runs)."""

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
    """End-to-end and per-kernel times of one graph."""

    runs: int
    end_to_end_ms: float  # QUANTILE of the plain runs
    end_to_end_median_ms: float
    profiled_end_to_end_ms: float  # QUANTILE of the profiled runs (profiler overhead included)
    kernel_sum_ms: float  # sum of every kernel's QUANTILE
    kernels: tuple[KernelTiming, ...]  # in execution order


def time_graph(backend: OrtBackend, model: RunnableModel, policy: RunPolicy | None = None) -> GraphTiming:
    """Time one graph (weights filled, input shapes fixed) end to end and per kernel."""
    policy = policy or RunPolicy()
    with tempfile.TemporaryDirectory(prefix="incontext-") as folder:
        prefix = str(Path(folder) / "profile")
        if backend.settings.intra_op_threads > 1:
            profile_path, plain_s = _one_after_the_other(backend, model, policy, prefix)
        else:
            profile_path, plain_s = _taking_turns(backend, model, policy, prefix)
        try:
            events = json.loads(Path(profile_path).read_text())
        finally:
            os.remove(profile_path)
    return _summarize(events, np.asarray(plain_s) * 1e3, policy.warmup_runs)


def _taking_turns(backend: OrtBackend, model: RunnableModel, policy: RunPolicy, prefix: str) -> tuple[str, list[float]]:
    """No thread pool: plain and profiled runs alternate (neither may spin, see SPINNING_NOTE)."""
    plain = _runner(model, backend.session(model, spinning=False))
    profiled_session = backend.session(model, profile_prefix=prefix, spinning=False)
    profiled = _runner(model, profiled_session)
    _warm_up(model, policy, plain, profiled)
    plain_s = _timed_runs(policy, plain, profiled)
    return profiled_session.end_profiling(), plain_s


def _one_after_the_other(backend: OrtBackend, model: RunnableModel, policy: RunPolicy, prefix: str
                         ) -> tuple[str, list[float]]:
    """A thread pool: the profiled session alone, then the plain one, both spinning as users run them."""
    profiled_session = backend.session(model, profile_prefix=prefix)
    profiled = _runner(model, profiled_session)
    _warm_up(model, policy, profiled)
    _timed_runs(policy, profiled)
    profile_path = profiled_session.end_profiling()
    del profiled_session, profiled  # its pool goes before the plain session starts its own
    plain = _runner(model, backend.session(model))
    _warm_up(model, policy, plain)
    return profile_path, _timed_runs(policy, plain)


def _runner(model: RunnableModel, session) -> Callable[[], object]:
    outputs = [output.name for output in session.get_outputs()]
    return lambda: session.run(outputs, model.feeds)


def _warm_up(model: RunnableModel, policy: RunPolicy, *runs: Callable[[], object]) -> None:
    try:
        for _ in range(policy.warmup_runs):
            for run in runs:
                run()
    except Exception as error:  # ORT raises its own types; e.g. a detector whose random input finds nothing
        raise MeasureError(f"{model.name}: ONNX Runtime failed running it: {str(error).splitlines()[0]}") from None


def _timed_runs(policy: RunPolicy, timed: Callable[[], object], *beside: Callable[[], object]) -> list[float]:
    """Seconds per call of `timed` (each followed by the `beside` runs, untimed) until the policy has enough."""
    times_s: list[float] = []
    started = time.perf_counter()
    while len(times_s) < policy.max_runs:
        before = time.perf_counter()
        timed()
        times_s.append(time.perf_counter() - before)
        for run in beside:
            run()
        enough = policy.slow_min_runs if times_s[0] > policy.slow_run_s else policy.min_runs
        if len(times_s) >= enough and time.perf_counter() - started >= policy.min_time_s:
            break
    return times_s


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
    """Pair each of our kernels with a profiled one of the same signature: by node name where the profiler's name
    points at one of them, the rest in order within the signature.

    Order alone is not enough: ONNX Runtime sorts its graph after its layout transforms, so two convolutions of one
    signature in sibling branches (a detector's box and class heads at one level) may run in the other order, and
    paired in order they swapped timings (a 3x3 conv timed at five times the machine's peak, the 1x1 beside it at a
    tenth). Returns one timing (or None) per kernel and how many profiled kernels stayed unpaired.
    """
    pool: dict[Signature, list[KernelTiming]] = defaultdict(list)
    for timed in timing.kernels:
        pool[timed.signature].append(timed)
    mine: dict[Signature, list[int]] = defaultdict(list)
    for index, kernel in enumerate(kernels):
        mine[kernel_signature(kernel)].append(index)
    paired: list[KernelTiming | None] = [None] * len(kernels)
    unpaired = 0
    for signature, indices in mine.items():
        profiled = pool.pop(signature, [])
        claims = _claims_by_name([kernels[index] for index in indices], profiled)
        claimed = set(claims.values())
        left = deque(timed for position, timed in enumerate(profiled) if position not in claimed)
        for slot, index in enumerate(indices):
            if slot in claims:
                paired[index] = profiled[claims[slot]]
            elif left:
                paired[index] = left.popleft()
        unpaired += len(left)
    return paired, unpaired + sum(len(left) for left in pool.values())


def _claims_by_name(kernels: list[Kernel], profiled: list[KernelTiming]) -> dict[int, int]:
    """Kernel slot -> profiled position, where a profiled kernel's name is one of our kernel's model nodes or starts
    with one (ONNX Runtime names what it rewrites after a node or its output: '/head/Conv_2_output_0_nchwc',
    '/act/Mul/QuickGeluFusion/'), the longest such node deciding. A kernel that two profiled names point at is
    paired in order."""
    if len(kernels) < 2 or len(profiled) < 2:
        return {}
    owner: dict[str, int] = {}
    for slot, kernel in enumerate(kernels):
        for source in kernel.sources:
            owner[source] = slot if source not in owner else -1  # a node two kernels name decides nothing
    claimed: dict[int, list[int]] = defaultdict(list)
    for position, timed in enumerate(profiled):
        slot = _named_owner(timed.node_name, owner)
        if slot is not None:
            claimed[slot].append(position)
    return {slot: positions[0] for slot, positions in claimed.items() if len(positions) == 1}


def _named_owner(name: str, owner: dict[str, int]) -> int | None:
    """The slot of the longest model node that `name` is or starts with (followed by '_' or '/'), None if none."""
    if name in owner:
        return owner[name] if owner[name] >= 0 else None
    for end in range(len(name) - 1, 0, -1):
        if name[end] in "_/" and name[:end] in owner:
            slot = owner[name[:end]]
            return slot if slot >= 0 else None
    return None
