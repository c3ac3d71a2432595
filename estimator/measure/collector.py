"""The collector: measure each distinct layer configuration once, and whole models end to end.

Every finished measurement is appended to `<out>/journal.jsonl` at once, so an interrupted
run resumes where it stopped; the CSVs and device.json are regenerated from the journal and
replaced atomically (layout.py).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from estimator.errors import MeasureError
from estimator.files import Journal
from estimator.measure.backends.base import Backend
from estimator.measure.layout import config_key, measurable, now, write_csvs, write_device_json
from estimator.measure.progress import progress_bar
from estimator.measure.sensors import PowerSensor, SensorDetection, measure_idle_power
from estimator.measure.sweep import SweepLimits, sample_layers
from estimator.measure.timing import LoopPolicy, Timing, summarize
from graph.build import LAYER_MODEL_OPSET
from graph.extract import extract_layers
from graph.records import Layer, ModelLayers

__all__ = ["MODEL_SOURCES", "CollectOptions", "CollectPlan", "Collector", "ZooJob"]

logger = logging.getLogger(__name__)

# How whole models are run end to end: their ONNX graph (by the backend), or the torchvision
# modules they were exported from (the PyTorch backend only).
MODEL_SOURCES = ("onnx", "torchvision")


@dataclass(frozen=True)
class CollectOptions:
    """How each configuration is measured, when a measurement is repeated, and what a failure does."""

    policy: LoopPolicy = field(default_factory=LoopPolicy)
    model_policy: LoopPolicy = field(default_factory=lambda: LoopPolicy(warmup_s=0.2, min_time_s=1.0, min_iterations=5))
    max_cv: float = 0.15  # re-measure a configuration whose coefficient of variation is above this
    max_attempts: int = 3
    time_budget_s: float | None = None
    idle_seconds: float = 2.0
    skip_failures: bool = False  # a configuration the backend cannot run is listed in `failures`, not raised
    model_source: str = "onnx"  # one of MODEL_SOURCES
    progress_every_s: float = 0.5


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


class Collector:
    """Runs a CollectPlan into a device folder (training_data/<device-id>/)."""

    def __init__(self, out_dir: Path, backend: Backend, sensor: PowerSensor, options: CollectOptions | None = None,
                 detections: Iterable[SensorDetection] = (), command_line: str = "", label: str = "measuring") -> None:
        self.out_dir = Path(out_dir)
        self.backend = backend
        self.sensor = sensor
        self.options = options or CollectOptions()
        if self.options.model_source not in MODEL_SOURCES:
            raise MeasureError(f"unknown model source {self.options.model_source!r}; use one of {MODEL_SOURCES}")
        self.detections = list(detections)
        self.command_line = command_line
        self.label = label
        self.journal = Journal(self.out_dir / "journal.jsonl")
        self.failures: list[dict[str, object]] = []
        self._deadline: float | None = None

    # -- measuring ---------------------------------------------------------------------------

    def measure(self, run: Callable[[], object], policy: LoopPolicy) -> tuple[Timing, object, int]:
        """Time `run` in a sensor window, again while its CV is above max_cv; the lowest-CV attempt wins."""
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
            "measured_at": now(),
            **extra,
        }

    def measure_layer(self, layer: Layer, opset: int) -> dict[str, object]:
        """Measure one configuration (or return its journal entry if it was measured before)."""
        key = config_key(layer)
        cached = self.journal.get(key)
        if cached is not None:
            return cached
        try:
            run = self.backend.layer_runner(layer, opset)
            timing, reading, attempts = self.measure(run, self.options.policy)
        except MeasureError as error:
            return self._failed(error, key, f"{layer.layer_type} {layer.op_type}")
        entry = self._entry(key, "layer", timing, reading, attempts, layer_type=layer.layer_type, op_type=layer.op_type)
        self.journal.append(entry)
        return entry

    def measure_model(self, job: ZooJob, batch_size: int) -> dict[str, object]:
        """Time one zoo model end to end at one batch size (or return its journal entry)."""
        key = f"model:{job.name}:{batch_size}"
        cached = self.journal.get(key)
        if cached is not None:
            return cached
        try:
            run, extra = self._model_runner(job, batch_size)
            timing, reading, attempts = self.measure(run, self.options.model_policy)
        except MeasureError as error:
            return self._failed(error, key, f"model {job.name} batch {batch_size}")
        entry = self._entry(key, "model", timing, reading, attempts, model=job.name, batch_size=batch_size, **extra)
        self.journal.append(entry)
        return entry

    def _model_runner(self, job: ZooJob, batch_size: int) -> tuple[Callable[[], object], dict[str, object]]:
        if self.options.model_source == "torchvision":
            from estimator.measure.zoo import build_model

            try:
                module, input_shape = build_model(job.name)
            except ImportError as error:
                raise MeasureError(f"--end-to-end torchvision needs torchvision: {error}") from None
            return self.backend.torch_model_runner(module, input_shape, batch_size), {"source": "torchvision"}
        layers = extract_layers(job.path, batch_size=batch_size)
        return self.backend.model_runner(job.path, dict(layers.input_shapes)), {}

    def _failed(self, error: MeasureError, key: str, label: str) -> dict[str, object]:
        if not self.options.skip_failures:
            raise error
        if not any(failure["key"] == key for failure in self.failures):
            self.failures.append({"key": key, "what": label, "error": str(error)})
            logger.warning("skipped %s: %s", label, error)
        return {}

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
            for layer in measurable(layers):
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
        with progress_bar(len(tasks), self.label, self.options.progress_every_s) as bar:
            for kind, payload in tasks:
                if self._deadline is not None and time.monotonic() > self._deadline:
                    complete = False
                    break
                if kind == "layer":
                    layer, opset = payload
                    bar.set_postfix_str(f"{layer.layer_type} {layer.op_type}", refresh=False)
                    self.measure_layer(layer, opset)
                else:
                    job, batch = payload
                    bar.set_postfix_str(f"model {job.name} batch {batch}", refresh=False)
                    self.measure_model(job, batch)
                done += 1
                bar.update()

        self.write_outputs(zoo_layers, sweep)
        summary = {
            "started_at": datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds"),
            "finished_at": now(),
            "duration_s": round(time.time() - started, 1),
            "measured": done,
            "planned": len(tasks),
            "complete": complete,
            "command_line": self.command_line,
            "idle_power_w": None if idle is None else idle.power_w,
            "call_overhead_ms": overhead_ms,
        }
        write_device_json(self.out_dir, summary, plan.sweep_counts, plan.sweep_seed,
                          dataclasses.asdict(plan.sweep_limits), self.sensor, self.backend, self.detections,
                          self._method(overhead_ms))
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

    def write_outputs(self, zoo_layers: dict[tuple[str, int], ModelLayers] | None = None,
                      sweep: dict[str, list[Layer]] | None = None) -> None:
        """Regenerate the CSVs of these zoo layers and sweep samples, and models.csv, from the journal."""
        write_csvs(self.out_dir, self.journal, zoo_layers or {}, sweep or {})

    def _method(self, overhead_ms: float) -> dict[str, object]:
        return {
            "layer_loop": dataclasses.asdict(self.options.policy),
            "model_loop": dataclasses.asdict(self.options.model_policy),
            "max_cv": self.options.max_cv,
            "max_attempts": self.options.max_attempts,
            "runtime": "median per-call wall time of the loop (ms), including one run call's overhead",
            "power": "device power over the loop window (energy / time), microwatts in the CSVs",
            "call_overhead_ms": overhead_ms,
        }
