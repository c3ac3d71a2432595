"""Timing loops of the PyTorch backend: CUDA events with a bounded queue, and counter-aligned windows.

On CUDA every call is timed with a pair of CUDA events, the host never runs more than a few
calls ahead of the device, and the loop ends with a synchronisation. With a CounterAlignedSensor
as clock, the workload keeps running until the energy counter ticks at both ends of the loop.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from estimator.measure.sensors.counter_aligned import CounterAlignedSensor
from estimator.measure.timing import LoopPolicy

__all__ = ["EventPool", "time_cpu_aligned", "time_cuda", "warm_up"]


class EventPool:
    """CUDA events made once and reused (making them inside a timed loop would cost time)."""

    def __init__(self) -> None:
        self._events: list[Any] = []

    def take(self, torch: Any, count: int) -> list[Any]:
        """At least `count` timing events (the pool grows 1024 at a time)."""
        while len(self._events) < count:
            self._events.extend(torch.cuda.Event(enable_timing=True) for _ in range(1024))
        return self._events


def warm_up(run: Callable[[], object], policy: LoopPolicy, synchronize: Callable[[], object]) -> None:
    """Run at least warmup_iterations calls and warmup_s seconds, each call synchronised."""
    start = time.perf_counter()
    done = 0
    while done < policy.warmup_iterations or time.perf_counter() - start < policy.warmup_s:
        run()
        synchronize()
        done += 1


def time_cuda(torch: Any, pool: EventPool, run: Callable[[], object], policy: LoopPolicy,
              clock: CounterAlignedSensor | None, depth: int, align_timeout_s: float) -> tuple[np.ndarray, float]:
    """Per-call seconds from CUDA events (host at most `depth` calls ahead) and the loop's wall seconds.

    With a clock, the loop starts and ends on its counter updates (see CounterAlignedSensor).
    """
    if clock is None:
        warm_up(run, policy, torch.cuda.synchronize)
    else:
        # Keep the device busy until the counter updates, at least warmup_s after the first calls:
        # waiting for the update is the warm-up, and the window starts at the update.
        warm_up(run, dataclasses.replace(policy, warmup_s=0.0), torch.cuda.synchronize)
        start = time.perf_counter()
        give_up = start + policy.warmup_s + align_timeout_s
        clock.arm()
        pending: list[Any] = []
        events = pool.take(torch, depth + 1)
        i = 0
        while time.perf_counter() < give_up:
            run()
            event = events[i % (depth + 1)]
            event.record()
            pending.append(event)
            if len(pending) > depth:
                _wait(pending.pop(0), clock)
            i += 1
            if clock.crossed():
                if time.perf_counter() - start >= policy.warmup_s:
                    break
                clock.arm()  # too early: the next update starts the window
    events = pool.take(torch, 2 * max(policy.min_iterations, 64))
    count = 0
    armed_at: float | None = None
    loop_start = time.perf_counter()
    while True:
        if 2 * count + 2 > len(events):
            events = pool.take(torch, 2 * count + 2)
        begin, end = events[2 * count], events[2 * count + 1]
        begin.record()
        run()
        end.record()
        count += 1
        if count > depth:
            _wait(events[2 * (count - depth) - 1], clock if armed_at is not None else None)
        now = time.perf_counter()
        enough = count >= policy.min_iterations and now - loop_start >= policy.min_time_s
        if enough or count >= policy.max_iterations:  # waiting for the counter may exceed max_iterations
            if clock is None:
                break
            if armed_at is None:
                clock.arm()
                armed_at = now
            elif clock.crossed() or now - armed_at > align_timeout_s:
                break
    torch.cuda.synchronize()
    loop_seconds = time.perf_counter() - loop_start
    times = np.fromiter((events[2 * i].elapsed_time(events[2 * i + 1]) for i in range(count)),
                        dtype=np.float64, count=count) / 1e3
    return times, loop_seconds


def _wait(event: Any, clock: CounterAlignedSensor | None) -> None:
    """Wait for a recorded event; while waiting, keep polling the clock so updates are seen at once."""
    if clock is None:
        event.synchronize()
        return
    while not event.query():
        clock.crossed()


def time_cpu_aligned(run: Callable[[], object], policy: LoopPolicy, clock: CounterAlignedSensor,
                     align_timeout_s: float) -> tuple[np.ndarray, float]:
    """Per-call seconds on the CPU with the loop started and ended on the clock's counter updates."""
    warm_up(run, dataclasses.replace(policy, warmup_s=0.0), lambda: None)
    start = time.perf_counter()
    give_up = start + policy.warmup_s + align_timeout_s
    clock.arm()
    while time.perf_counter() < give_up:
        run()
        if clock.crossed():
            if time.perf_counter() - start >= policy.warmup_s:
                break
            clock.arm()
    samples: list[float] = []
    armed_at: float | None = None
    loop_start = now = time.perf_counter()
    while True:
        before = time.perf_counter()
        run()
        now = time.perf_counter()
        samples.append(now - before)
        enough = len(samples) >= policy.min_iterations and now - loop_start >= policy.min_time_s
        if enough or len(samples) >= policy.max_iterations:
            if armed_at is None:
                clock.arm()
                armed_at = now
            elif clock.crossed() or now - armed_at > align_timeout_s:
                break
    return np.asarray(samples), now - loop_start
