"""The collector: measure each distinct layer configuration once, and whole models end to end.

Every finished measurement is appended to `<out>/journal.jsonl` at once, so an interrupted
run resumes where it stopped; the CSVs and device.json are regenerated from the journal and
replaced atomically.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from estimator.files import Journal, write_atomic, write_csv_atomic
from estimator.measure.backend import Backend
from estimator.measure.sensors import PowerSensor, SensorDetection, measure_idle_power
from estimator.measure.sweep import SweepLimits, sample_layers
from estimator.measure.timing import LoopPolicy, Timing, summarize
from graph.build import LAYER_MODEL_OPSET
from graph.extract import extract_layers
from graph.frames import layer_row
from graph.loading import load_model
from graph.records import Layer, ModelLayers, is_costed
from graph.schema import CSV_FILES, FEATURE_COLUMNS, LAYER_TYPES

__all__ = ["CollectOptions", "CollectPlan", "Collector", "ZooJob", "config_key", "measured_layers_frame"]

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class CollectOptions:
    """How each configuration is measured and when a measurement is repeated."""

    policy: LoopPolicy = field(default_factory=LoopPolicy)
    model_policy: LoopPolicy = field(default_factory=lambda: LoopPolicy(warmup_s=0.2, min_time_s=1.0, min_iterations=5))
    max_cv: float = 0.15  # re-measure a configuration whose coefficient of variation is above this
    max_attempts: int = 3
    time_budget_s: float | None = None
    idle_seconds: float = 2.0


@dataclass(frozen=True)
class ZooJob:
    """One model of the zoo at the batch sizes to collect."""

    name: str
    path: Path
    batch_sizes: tuple[int, ...]


@dataclass(frozen=True)
class CollectPlan:
    zoo: tuple[ZooJob, ...] = ()
    sweep_counts: dict[str, int] = field(default_factory=dict)
    sweep_seed: int = 0
    sweep_limits: SweepLimits = field(default_factory=SweepLimits)
    end_to_end: bool = True


def config_key(layer: Layer) -> str:
    """A stable id of a layer's configuration: every field except its name, position and graph context."""
    fields = dataclasses.asdict(layer)
    for context in ("name", "index", "producer_op"):
        fields.pop(context, None)
    text = json.dumps([type(layer).__name__, fields], sort_keys=True, default=list)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


class Collector:
    """Runs a CollectPlan into a device folder (training_data/<device-id>/)."""

    def __init__(self, out_dir: Path, backend: Backend, sensor: PowerSensor, options: CollectOptions | None = None,
                 progress: Progress | None = None, detections: Iterable[SensorDetection] = (),
                 command_line: str = "") -> None:
        self.out_dir = Path(out_dir)
        self.backend = backend
        self.sensor = sensor
        self.options = options or CollectOptions()
        self.progress = progress or (lambda done, total, label: None)
        self.detections = list(detections)
        self.command_line = command_line
        self.journal = Journal(self.out_dir / "journal.jsonl")
        self._deadline: float | None = None

    # -- measuring ---------------------------------------------------------------------------

    def _measure(self, run: Callable[[], object], policy: LoopPolicy) -> tuple[Timing, object, int]:
        best: tuple[Timing, object] | None = None
        attempts = 0
        for attempt in range(1, self.options.max_attempts + 1):
            attempts = attempt
            token = self.sensor.begin()
            seconds, window_s = self.backend.time_calls(run, policy)
            reading = self.sensor.end(token)
            timing = summarize(seconds, window_s)
            if best is None or timing.cv < best[0].cv:
                best = (timing, reading)
            if timing.cv <= self.options.max_cv:
                break
        assert best is not None
        return best[0], best[1], attempts

    def _entry(self, key: str, kind: str, timing: Timing, reading, attempts: int, **extra) -> dict[str, object]:
        return {
            "key": key,
            "kind": kind,
            "runtime_ms": timing.median_ms,
            "runtime_p10_ms": timing.p10_ms,
            "runtime_p90_ms": timing.p90_ms,
            "runtime_cv": timing.cv,
            "iterations": timing.iterations,
            "window_s": timing.window_s,
            "attempts": attempts,
            "power_uw": None if reading is None else reading.power_w * 1e6,
            # W x ms = mJ; the window's mean power times the median call (the window also spans warm-up calls).
            "energy_mj_per_call": None if reading is None else reading.power_w * timing.median_ms,
            "power_samples": None if reading is None else reading.samples,
            "measured_at": _now(),
            **extra,
        }

    def measure_layer(self, layer: Layer, opset: int) -> dict[str, object]:
        """Measure one configuration (or return its journal entry if it was measured before)."""
        key = config_key(layer)
        cached = self.journal.get(key)
        if cached is not None:
            return cached
        run = self.backend.layer_runner(layer, opset)
        timing, reading, attempts = self._measure(run, self.options.policy)
        entry = self._entry(key, "layer", timing, reading, attempts, layer_type=layer.layer_type, op_type=layer.op_type)
        self.journal.append(entry)
        return entry

    def measure_model(self, job: ZooJob, batch_size: int) -> dict[str, object]:
        key = f"model:{job.name}:{batch_size}"
        cached = self.journal.get(key)
        if cached is not None:
            return cached
        layers = extract_layers(job.path, batch_size=batch_size)
        run = self.backend.model_runner(load_model(job.path).proto, dict(layers.input_shapes))
        timing, reading, attempts = self._measure(run, self.options.model_policy)
        entry = self._entry(key, "model", timing, reading, attempts, model=job.name, batch_size=batch_size)
        self.journal.append(entry)
        return entry

    def measure_overhead(self) -> float:
        """Median ms of one `run` call that does next to no work."""
        seconds, window_s = self.backend.time_calls(self.backend.overhead_runner(), LoopPolicy(min_time_s=0.5,
                                                                                                min_iterations=200))
        return summarize(seconds, window_s).median_ms

    # -- the whole run ---------------------------------------------------------------------

    def run(self, plan: CollectPlan) -> dict[str, object]:
        """Measure everything in the plan that the journal lacks; write CSVs and device.json."""
        started = time.time()
        if self.options.time_budget_s is not None:
            self._deadline = time.monotonic() + self.options.time_budget_s
        idle = measure_idle_power(self.sensor, self.options.idle_seconds) if self.options.idle_seconds > 0 else None
        overhead_ms = self.measure_overhead()

        zoo_layers = {(job.name, batch): extract_layers(job.path, batch_size=batch)
                      for job in plan.zoo for batch in self._batch_sizes(job)}
        sweep = {layer_type: list(sample_layers(layer_type, count, plan.sweep_seed, plan.sweep_limits))
                 for layer_type, count in plan.sweep_counts.items() if count > 0}
        tasks: list[tuple[str, object]] = []
        seen: set[str] = set()

        def add_layers(layers: Iterable[Layer], opset: int) -> None:
            for layer in _measurable(layers):
                key = config_key(layer)
                if key not in seen and key not in self.journal:
                    seen.add(key)
                    tasks.append(("layer", (layer, opset)))

        for model_layers in zoo_layers.values():
            add_layers(model_layers.layers, model_layers.opset)
        if plan.end_to_end:
            tasks += [("model", (job, batch)) for job in plan.zoo for batch in job.batch_sizes
                      if f"model:{job.name}:{batch}" not in self.journal]
        for layers in sweep.values():
            add_layers(layers, LAYER_MODEL_OPSET)

        done, complete = 0, True
        self.progress(0, len(tasks), "starting")
        for kind, payload in tasks:
            if self._deadline is not None and time.monotonic() > self._deadline:
                complete = False
                break
            if kind == "layer":
                layer, opset = payload
                self.measure_layer(layer, opset)
                label = f"{layer.layer_type} {layer.op_type}"
            else:
                job, batch = payload
                self.measure_model(job, batch)
                label = f"model {job.name} batch {batch}"
            done += 1
            self.progress(done, len(tasks), label)

        self.write_outputs(plan, zoo_layers, sweep)
        summary = {
            "started_at": datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds"),
            "finished_at": _now(),
            "duration_s": round(time.time() - started, 1),
            "measured": done,
            "planned": len(tasks),
            "complete": complete,
            "command_line": self.command_line,
            "idle_power_w": None if idle is None else idle.power_w,
            "call_overhead_ms": overhead_ms,
        }
        self._write_device_json(plan, summary)
        return summary

    def _batch_sizes(self, job: ZooJob) -> list[int]:
        """The plan's batch sizes for a model plus those earlier runs collected, so its CSVs keep them all."""
        for batch in job.batch_sizes:
            key = f"zoo:{job.name}:{batch}"
            if key not in self.journal:
                self.journal.append({"key": key, "kind": "zoo", "model": job.name, "batch_size": batch})
        earlier = {int(entry["batch_size"]) for entry in self.journal.entries.values()
                   if entry.get("kind") in ("zoo", "model") and entry.get("model") == job.name}
        return sorted(earlier | set(job.batch_sizes))

    # -- outputs --------------------------------------------------------------------------

    def write_outputs(self, plan: CollectPlan, zoo_layers: dict[tuple[str, int], ModelLayers],
                      sweep: dict[str, list[Layer]]) -> None:
        by_model: dict[str, list[ModelLayers]] = {}
        for (name, _), model_layers in zoo_layers.items():
            by_model.setdefault(name, []).append(model_layers)
        for name, batches in by_model.items():
            for layer_type in LAYER_TYPES:
                frames = [measured_layers_frame(m.layers, layer_type, self.journal) for m in batches]
                frame = pd.concat(frames, ignore_index=True)
                if frame.empty or frame["runtime"].isna().any():
                    continue  # not fully measured yet: the next (resumed) run writes it
                frame.insert(frame.columns.get_loc("layer_name") + 1, "model", name)
                write_csv_atomic(self.out_dir / name / CSV_FILES[layer_type], frame)
        for layer_type, layers in sweep.items():
            frame = measured_layers_frame(layers, layer_type, self.journal).dropna(subset=["runtime"])
            write_csv_atomic(self.out_dir / "sweep" / CSV_FILES[layer_type], frame)
        models = [entry for entry in self.journal.entries.values() if entry.get("kind") == "model"]
        if models:
            frame = pd.DataFrame(models)
            frame["energy_mj"] = frame["energy_mj_per_call"]
            columns = ["model", "batch_size", "runtime_ms", "runtime_p10_ms", "runtime_p90_ms", "runtime_cv",
                       "iterations", "attempts", "power_uw", "energy_mj", "measured_at"]
            frame = frame[columns].sort_values(["model", "batch_size"], ignore_index=True)
            write_csv_atomic(self.out_dir / "models.csv", frame)

    def _write_device_json(self, plan: CollectPlan, summary: dict[str, object]) -> None:
        path = self.out_dir / "device.json"
        previous = json.loads(path.read_text()) if path.exists() else {}
        runs = [*previous.get("runs", []), summary]
        sweep = dict(previous.get("sweep", {}).get("counts", {}))
        for layer_type, count in plan.sweep_counts.items():
            sweep[layer_type] = max(count, sweep.get(layer_type, 0))
        sensor = self.sensor.describe()
        idle_values = [run["idle_power_w"] for run in runs if run.get("idle_power_w") is not None]
        document = {
            "device_id": self.out_dir.name,
            "machine": machine_facts(),
            "backend": self.backend.describe(),
            "power_sensor": {
                "selected": sensor,
                "auto_detection": [dataclasses.asdict(d) for d in self.detections],
                "power_measured": self.sensor.name != "none",
                "idle_power_w": idle_values[-1] if idle_values else None,
            },
            "method": {
                "layer_loop": dataclasses.asdict(self.options.policy),
                "model_loop": dataclasses.asdict(self.options.model_policy),
                "max_cv": self.options.max_cv,
                "max_attempts": self.options.max_attempts,
                "runtime": "median per-call wall time of the loop (ms), including one run call's overhead",
                "power": "device power over the loop window (energy / time), microwatts in the CSVs",
                "call_overhead_ms": summary["call_overhead_ms"],
            },
            "sweep": {"seed": plan.sweep_seed, "counts": sweep, "limits": dataclasses.asdict(plan.sweep_limits)},
            "runs": runs,
        }
        write_atomic(path, json.dumps(document, indent=2, sort_keys=False) + "\n")


def measured_layers_frame(layers: Iterable[Layer], layer_type: str, journal: Journal) -> pd.DataFrame:
    """Feature rows of measured layers with the seed's columns first (power µW, runtime ms)."""
    rows = []
    for layer in _measurable(layers):
        if layer.layer_type != layer_type:
            continue
        row = layer_row(layer)
        entry = journal.get(config_key(layer)) or {}
        features = {column: row.pop(column) for column in FEATURE_COLUMNS[layer_type]}
        name = row.pop("layer_name")
        rows.append({
            **features,
            "power": entry.get("power_uw"),
            "runtime": entry.get("runtime_ms"),
            "layer_name": name,
            **row,
            "runtime_p10": entry.get("runtime_p10_ms"),
            "runtime_p90": entry.get("runtime_p90_ms"),
            "runtime_cv": entry.get("runtime_cv"),
            "iterations": entry.get("iterations"),
            "attempts": entry.get("attempts"),
            "energy_mj": entry.get("energy_mj_per_call"),
            "config_id": config_key(layer),
        })
    if not rows:
        return pd.DataFrame(columns=[*FEATURE_COLUMNS[layer_type], "power", "runtime", "layer_name"])
    return pd.DataFrame(rows)


def _measurable(layers: Iterable[Layer]) -> list[Layer]:
    """Free nodes (constants, shape arithmetic, reshapes) cost nothing and are not run."""
    return [layer for layer in layers if is_costed(layer)]


def machine_facts() -> dict[str, object]:
    """CPU model, core count, memory and OS of the measuring machine."""
    facts: dict[str, object] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "logical_cpus": os.cpu_count(),
    }
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                facts["cpu_model"] = line.split(":", 1)[1].strip()
                break
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal"):
                facts["memory_gib"] = round(int(line.split()[1]) / 2**20, 1)
                break
    return facts


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
