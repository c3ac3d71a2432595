"""The in-context collector: whole graphs timed end to end and per kernel, into training CSVs.

Each (graph, batch size) is one task: its kernels are extracted with the device's fusion rules,
the graph is timed with the profiler and in plain runs (estimator.measure.incontext),
and the profiled kernels are paired with ours. Every finished task is appended to journal.jsonl,
so an interrupted run resumes; the CSVs and models.csv are regenerated from the journal.

Noise guard: a fixed reference graph is re-timed every `DriftGuard.every_s`; when it drifts more
than `max_drift` from the run's median, the graphs timed since the last good reference are
measured again. Every reference time is kept in the journal and summarised in device.json.
With a thread pool (2 threads or more) the same graph also tells, right before and after each graph,
whether the pool has a core for each thread (estimator.measure.cores); a graph timed while it had not
is timed again once, after waiting for the cores, and its entry records both checks.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from estimator.errors import MeasureError
from estimator.files import Journal, write_csv_atomic
from estimator.measure.backends.ort import OrtBackend
from estimator.measure.cores import PoolCheck, PoolPolicy
from estimator.measure.incontext import GraphTiming, RunPolicy, match_kernels, time_graph
from graph.build import runnable_model
from graph.kernels import FusionRules, ModelKernels, extract_kernels
from graph.kernels.frames import kernel_row
from graph.loading import ModelSource
from graph.schema import CSV_FILES, FEATURE_COLUMNS, LAYER_TYPES

__all__ = ["DriftGuard", "GraphJob", "KernelCollector", "graph_key", "kernel_frame"]

log = logging.getLogger(__name__)
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class GraphJob:
    """One graph at one batch size. `source` is zoo, generated, or unseen or modern (evaluation only)."""

    name: str
    source: str
    family: str
    model: ModelSource
    batch_size: int
    path: str = ""  # the model file, relative to the repository, when it is one (models.csv names it)


@dataclass(frozen=True)
class DriftGuard:
    """Re-time `reference` every `every_s`; past `max_drift` from the run's median, re-measure since the last check."""

    reference: GraphJob
    every_s: float = 60.0
    max_drift: float = 0.10
    pool: PoolPolicy = field(default_factory=PoolPolicy)  # with a thread pool: does it have its cores (see module docstring)


def graph_key(job: GraphJob) -> str:
    return f"graph:{job.source}:{job.name}:{job.batch_size}"


class KernelCollector:
    """Runs graph jobs into a device folder (training_data/<device-id>/)."""

    def __init__(self, out_dir: Path, backend: OrtBackend, rules: FusionRules, policy: RunPolicy | None = None,
                 guard: DriftGuard | None = None, progress: Progress | None = None) -> None:
        self.out_dir = Path(out_dir)
        self.backend = backend
        self.rules = rules
        self.policy = policy or RunPolicy()
        self.guard = guard
        self.progress = progress or (lambda done, total, label: None)
        self.journal = Journal(self.out_dir / "journal.jsonl")
        self._pool: PoolCheck | None = None  # made on first use, with a thread pool and a guard only

    def run(self, jobs: Sequence[GraphJob], deadline: float | None = None) -> dict[str, object]:
        """Measure every job the journal lacks (until `deadline`, a time.monotonic() value); write the CSVs."""
        todo = [job for job in jobs if graph_key(job) not in self.journal]
        done = 0
        since_reference: list[GraphJob] = []
        remeasured: set[GraphJob] = set()  # each graph is measured again at most once
        without_cores: set[GraphJob] = set()  # ... and once more if its pool lacked its cores
        last_reference = -math.inf  # check at once: time.monotonic() counts from boot, which may be seconds ago
        self.progress(0, len(todo), "starting")
        queue = list(todo)
        while queue:
            if deadline is not None and time.monotonic() > deadline:
                break
            if self.guard is not None and time.monotonic() - last_reference > self.guard.every_s:
                drifted = self._check_reference()
                last_reference = time.monotonic()
                again = [job for job in since_reference if job not in remeasured] if drifted else []
                if again:
                    log.warning("reference drifted: re-measuring the %d graphs timed since the last check", len(again))
                    remeasured.update(again)
                    queue = again + queue
                since_reference = []
            job = queue.pop(0)
            try:
                entry = self.measure(job, deadline)
            except MeasureError as error:  # this graph cannot be run here: say so, keep it out, go on
                log.warning("skipped %s batch %d: %s", job.name, job.batch_size, error)
                self.journal.append({"key": graph_key(job), "kind": "skipped", "model": job.name, "source": job.source,
                                     "batch_size": job.batch_size, "reason": str(error), "measured_at": _now()})
                done += 1
                continue
            if not entry.get("pool_had_cores", True) and job not in without_cores:
                log.warning("%s batch %d: timed while the thread pool lacked its cores (speedup %s); again",
                            job.name, job.batch_size, entry["pool_speedup"])
                without_cores.add(job)
                queue.insert(0, job)
                continue
            since_reference.append(job)
            done += 1
            self.progress(min(done, len(todo)), len(todo), f"{job.name} batch {job.batch_size}: "
                                                              f"{entry['end_to_end_ms']:.3f} ms")
        if self.guard is not None:
            self._check_reference()
        self.write_outputs()
        return {"planned": len(todo), "measured": done, "complete": not queue}

    # -- measuring ------------------------------------------------------------------------------

    def measure(self, job: GraphJob, deadline: float | None = None) -> dict[str, object]:
        """Time one graph and journal it (a re-measurement replaces the earlier entry)."""
        kernels = extract_kernels(job.model, self.rules, batch_size=job.batch_size)
        timing, speedups = self._time(job.model, kernels, deadline)
        paired, unpaired = match_kernels(kernels.kernels, timing)
        rows = []
        for kernel, timed in zip(kernels.kernels, paired, strict=True):
            rows.append({**kernel_row(kernel), "layer_type": kernel.layer_type,
                         "runtime_ms": None if timed is None else timed.quantile_ms,
                         "runtime_median_ms": None if timed is None else timed.median_ms})
        entry = {
            "key": graph_key(job), "kind": "graph", "model": job.name, "source": job.source, "family": job.family,
            "path": job.path, "batch_size": job.batch_size, "end_to_end_ms": timing.end_to_end_ms,
            "end_to_end_median_ms": timing.end_to_end_median_ms, "profiled_end_to_end_ms": timing.profiled_end_to_end_ms,
            "kernel_sum_ms": timing.kernel_sum_ms, "runs": timing.runs, "kernels": len(kernels.kernels),
            "runtime_kernels": len(timing.kernels), "paired": sum(timed is not None for timed in paired),
            "unpaired_runtime_kernels": unpaired, "unmodeled": len(kernels.unmodeled), "measured_at": _now(),
            "rows": rows,
        }
        if speedups:
            entry["pool_speedup"] = [round(value, 3) for value in speedups]
            entry["pool_had_cores"] = all(self._pool.has_cores(value) for value in speedups)
        self.journal.append(entry)
        return entry

    def _time(self, source: ModelSource, kernels: ModelKernels, deadline: float | None = None
              ) -> tuple[GraphTiming, list[float]]:
        """The graph's timing; with a thread pool, the pool's speedup right before (after waiting for its cores)
        and right after it."""
        pool = self._pool_check()
        before = [] if pool is None else [pool.wait_for_cores(deadline)]
        timing = time_graph(self.backend, runnable_model(source, dict(kernels.input_shapes)), self.policy)
        return timing, before + ([] if pool is None else [pool.speedup()])

    def _pool_check(self) -> PoolCheck | None:
        if self._pool is None and self.guard is not None and self.backend.settings.intra_op_threads > 1:
            reference = self.guard.reference
            kernels = extract_kernels(reference.model, self.rules, batch_size=reference.batch_size)
            model = runnable_model(reference.model, dict(kernels.input_shapes))
            self._pool = PoolCheck(self.backend, model, self.guard.pool)
        return self._pool

    def _check_reference(self) -> bool:
        """Time the reference graph; True when it is off the run's median by more than max_drift."""
        earlier = [float(e["end_to_end_ms"]) for e in self.journal.entries.values() if e.get("kind") == "reference"]
        kernels = extract_kernels(self.guard.reference.model, self.rules, batch_size=self.guard.reference.batch_size)
        timing, speedups = self._time(self.guard.reference.model, kernels)
        self.journal.append({"key": f"reference:{len(earlier)}", "kind": "reference", "model": self.guard.reference.name,
                             "end_to_end_ms": timing.end_to_end_ms, "measured_at": _now(),
                             **({"pool_speedup": [round(value, 3) for value in speedups]} if speedups else {})})
        if not earlier:
            return False
        drift = timing.end_to_end_ms / float(np.median(earlier)) - 1
        if abs(drift) > self.guard.max_drift:
            log.warning("reference %s: %.3f ms, %+.0f%% from the run's median", self.guard.reference.name,
                        timing.end_to_end_ms, 100 * drift)
            return True
        return False

    # -- outputs --------------------------------------------------------------------------------

    def graph_entries(self) -> list[dict[str, object]]:
        return [entry for entry in self.journal.entries.values() if entry.get("kind") == "graph"]

    def write_outputs(self) -> None:
        """CSV per layer type: zoo models in their own folders (the seed's layout), generated and unseen graphs
        in one folder each; models.csv with every graph's end-to-end time."""
        entries = self.graph_entries()
        groups: dict[Path, list[dict[str, object]]] = {}
        for entry in entries:
            folder = self.out_dir / (str(entry["model"]) if entry["source"] == "zoo" else str(entry["source"]))
            groups.setdefault(folder, []).append(entry)
        for folder, members in groups.items():
            for layer_type in LAYER_TYPES:
                frame = kernel_frame(members, layer_type)
                if not frame.empty:
                    write_csv_atomic(folder / CSV_FILES[layer_type], frame)
        if entries:
            columns = ["model", "source", "family", "path", "batch_size", "end_to_end_ms", "end_to_end_median_ms",
                       "profiled_end_to_end_ms", "kernel_sum_ms", "runs", "kernels", "runtime_kernels", "paired",
                       "unpaired_runtime_kernels", "unmodeled", "measured_at"]
            frame = pd.DataFrame(entries)[columns].sort_values(["source", "model", "batch_size"], ignore_index=True)
            write_csv_atomic(self.out_dir / "models.csv", frame)

    def skipped(self) -> list[dict[str, object]]:
        return [entry for entry in self.journal.entries.values() if entry.get("kind") == "skipped"]

    def references(self) -> list[dict[str, object]]:
        return [entry for entry in self.journal.entries.values() if entry.get("kind") == "reference"]


def kernel_frame(entries: Iterable[dict[str, object]], layer_type: str) -> pd.DataFrame:
    """Kernel rows of one layer type with the seed's columns first (runtime in ms, power empty)."""
    rows = []
    for entry in entries:
        for row in entry["rows"]:
            if row["layer_type"] != layer_type:
                continue
            row = dict(row)
            features = {column: row.pop(column) for column in FEATURE_COLUMNS[layer_type]}
            name = row.pop("layer_name")
            runtime = row.pop("runtime_ms")
            row.pop("layer_type")
            rows.append({**features, "power": None, "runtime": runtime, "layer_name": name, "model": entry["model"],
                         "graph_batch_size": entry["batch_size"], **row})
    return pd.DataFrame(rows)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
