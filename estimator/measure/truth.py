"""End-to-end latency as users see it: `onnxruntime.InferenceSession(model)` with ONNX Runtime's default options.

The collector's own truth runs beside a profiled session and so turns spinning off; a user's session
spins (and, unless told, takes ONNX Runtime's default thread count). Judging estimates against this
is judging them where users run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import onnxruntime as ort

from estimator.errors import MeasureError
from graph.build import runnable_model
from graph.loading import ModelSource

__all__ = ["time_default_session", "time_in_rounds"]


def time_default_session(model: ModelSource, input_shapes: Mapping[str, Sequence[int]], threads: int | None = None,
                         min_time_s: float = 1.0, min_runs: int = 10, warmup_runs: int = 3,
                         quantile: float = 0.2) -> float:
    """Milliseconds per run (the `quantile` of the runs, as the collector reports) of a default session; only the
    intra-op thread count is set, and only when `threads` is given."""
    runnable = runnable_model(model, input_shapes)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads is not None:
        options.intra_op_num_threads = threads
    try:
        session = ort.InferenceSession(runnable.data, options, providers=["CPUExecutionProvider"])
    except Exception as error:  # ORT raises its own exception types per build
        raise MeasureError(f"ONNX Runtime could not load {runnable.name!r}: {str(error).splitlines()[0]}") from None
    outputs = [output.name for output in session.get_outputs()]
    for _ in range(warmup_runs):
        session.run(outputs, runnable.feeds)
    times_s: list[float] = []
    started = time.perf_counter()
    while len(times_s) < min_runs or time.perf_counter() - started < min_time_s:
        begin = time.perf_counter()
        session.run(outputs, runnable.feeds)
        times_s.append(time.perf_counter() - begin)
    return float(np.quantile(times_s, quantile) * 1000)


Case = tuple[ModelSource, Mapping[str, Sequence[int]], int | None]  # a model, its input shapes, the thread count


def time_in_rounds(cases: Sequence[Case], rounds: int,
                   after_round: Callable[[int, float], None] | None = None) -> list[list[tuple[float, float]]]:
    """time_default_session of every case, in `rounds` rounds that each take every case in turn, so that a passing
    slowdown of the machine spoils one round of each case rather than every round of one. Per round and case:
    (milliseconds, seconds since the first round began); `after_round(index, seconds)` follows each round."""
    started = time.monotonic()
    timings = []
    for index in range(rounds):
        timings.append([(time_default_session(model, shapes, threads), time.monotonic() - started)
                        for model, shapes, threads in cases])
        if after_round is not None:
            after_round(index, time.monotonic() - started)
    return timings
