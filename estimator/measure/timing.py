"""The measuring loop: warm up, then run for a minimum time and iteration count."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["LoopPolicy", "Timing", "summarize", "time_calls"]


@dataclass(frozen=True)
class LoopPolicy:
    """How long one configuration is run; the defaults suit a CPU with no power sensor."""

    warmup_s: float = 0.03
    warmup_iterations: int = 2
    min_time_s: float = 0.1
    min_iterations: int = 5
    max_iterations: int = 20_000


@dataclass(frozen=True)
class Timing:
    """Per-call runtime statistics of one loop, in milliseconds."""

    median_ms: float
    p10_ms: float
    p90_ms: float
    cv: float  # standard deviation / mean of the per-call times
    iterations: int
    window_s: float  # wall time of the measured loop (the power window)


def time_calls(run: Callable[[], object], policy: LoopPolicy) -> tuple[np.ndarray, float]:
    """Per-call wall-clock seconds of `run` after warm-up, and the loop's total seconds."""
    start = time.perf_counter()
    done = 0
    while done < policy.warmup_iterations or time.perf_counter() - start < policy.warmup_s:
        run()
        done += 1
    samples: list[float] = []
    loop_start = time.perf_counter()
    now = loop_start
    while (len(samples) < policy.min_iterations or now - loop_start < policy.min_time_s) and len(
        samples
    ) < policy.max_iterations:
        before = time.perf_counter()
        run()
        now = time.perf_counter()
        samples.append(now - before)
    return np.asarray(samples), now - loop_start


def summarize(seconds: np.ndarray, window_s: float) -> Timing:
    """Median, p10, p90 and coefficient of variation of per-call times."""
    ms = seconds * 1e3
    mean = float(ms.mean())
    return Timing(
        median_ms=float(np.median(ms)),
        p10_ms=float(np.percentile(ms, 10)),
        p90_ms=float(np.percentile(ms, 90)),
        cv=float(ms.std() / mean) if mean > 0 else 0.0,
        iterations=int(ms.size),
        window_s=window_s,
    )
