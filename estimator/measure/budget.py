"""Planning a collection that must fit a time budget: model order, loop window, sweep rounds.

A device is lent for minutes: zoo models are ordered so that a run cut short leaves as many
complete models as possible, the loop window follows from the power sensor's counter, and what
is left of the budget goes to sweep rounds sized from the measured time per configuration.
"""

from __future__ import annotations

import math
from pathlib import Path

from estimator.errors import UsageError
from estimator.measure.collector import ZooJob
from estimator.measure.layout import config_key, measurable
from graph.extract import extract_layers

__all__ = [
    "MAX_QUANTISATION_ERROR",
    "SWEEP_WEIGHTS",
    "choose_window",
    "complete_models",
    "next_sweep_counts",
    "order_for_completion",
    "sweep_rows",
    "zoo_jobs",
]

MAX_QUANTISATION_ERROR = 0.02
SWEEP_WEIGHTS = {"convolutional": 0.45, "pooling": 0.12, "dense": 0.15, "other": 0.28}


def zoo_jobs(zoo_dir: Path, models: list[str] | tuple[str, ...], batch_sizes: tuple[int, ...]) -> list[ZooJob]:
    """Jobs for `models` (or "all") of the zoo folder; an unknown name is a UsageError listing the known ones."""
    known = sorted(p.stem for p in zoo_dir.glob("*.onnx"))
    names = known if list(models) == ["all"] else list(models)
    for name in names:
        if name not in known:
            raise UsageError(f"unknown model {name!r}: no {zoo_dir / (name + '.onnx')}; "
                             f"known models: {', '.join(known) or 'none'}")
    return [ZooJob(name, zoo_dir / f"{name}.onnx", tuple(batch_sizes)) for name in names]


def order_for_completion(jobs: list[ZooJob], measured: set[str]) -> tuple[list[ZooJob], dict[str, int]]:
    """Cheapest-first greedy order, so that a cut-short run leaves as many complete models as possible.

    Returns the order and, per model, how many configurations it adds to those before it.
    """
    keys: dict[str, set[str]] = {}
    for job in jobs:
        found: set[str] = set()
        for batch in job.batch_sizes:
            found.update(config_key(layer) for layer in measurable(extract_layers(job.path, batch_size=batch).layers))
        keys[job.name] = found
    covered = set(measured)
    remaining = list(jobs)
    order: list[ZooJob] = []
    adds: dict[str, int] = {}
    while remaining:
        best = min(remaining, key=lambda job: (len(keys[job.name] - covered), job.name))
        adds[best.name] = len(keys[best.name] - covered)
        covered |= keys[best.name]
        order.append(best)
        remaining.remove(best)
    return order, adds


def complete_models(order: list[ZooJob], adds: dict[str, int], measured: int, complete: bool) -> list[str]:
    """Models whose configurations were all measured (tasks run in `order`, each model's new ones together)."""
    if complete:
        return [job.name for job in order]
    names, total = [], 0
    for job in order:
        total += adds[job.name]
        if total > measured:
            break
        names.append(job.name)
    return names


def choose_window(min_window_s: float | None, sensor_name: str, interval: float | None, latency: float | None,
                  aligned: bool, poll_s: float) -> tuple[float, str]:
    """The loop window (seconds) and why: quantisation error of the energy reading under 2%."""
    if min_window_s is not None:
        return min_window_s, "given by --min-window-s"
    if sensor_name == "none":
        return 0.02, "no power sensor: timing only"
    if interval is None:
        return 0.1, "no usable energy counter: power polled, at least 0.1 s"
    if aligned:
        # Both ends sit on counter updates; each update is dated to the middle of the last two reads,
        # so each end is off by at most half of (poll + one read of the counter).
        boundary = (latency or 0.0) + poll_s
        window = max(0.1, interval, boundary / MAX_QUANTISATION_ERROR)
        return window, (f"windows aligned to counter updates: (read latency + poll) / {MAX_QUANTISATION_ERROR}, "
                        "at least one update interval and 0.1 s")
    return max(0.1, interval / MAX_QUANTISATION_ERROR), f"update interval / {MAX_QUANTISATION_ERROR}, at least 0.1 s"


def next_sweep_counts(counts: dict[str, int], caps: dict[str, int], left_s: float,
                      per_config_s: float) -> dict[str, int]:
    """The sweep sample counts of the next round: about 60% of what the time left would measure, split by type."""
    step = max(16, int(0.6 * left_s / per_config_s))
    return {t: min(caps[t], counts[t] + math.ceil(step * SWEEP_WEIGHTS[t])) for t in caps}


def sweep_rows(out_dir: Path) -> int:
    """Rows in the device folder's sweep CSVs."""
    rows = 0
    for path in (out_dir / "sweep").glob("*.csv"):
        with path.open() as stream:
            rows += max(0, sum(1 for _ in stream) - 1)
    return rows
