"""One collection of a GPU's training data with PyTorch, within a time budget, packed for hand-back.

In order: open the power sensor (NVML on a GPU), measure how often its energy counter updates
and choose the loop window from it, measure idle power; measure every distinct layer
configuration of the zoo models at the chosen batch sizes (models ordered so that as many as
possible are complete if time runs out); time every zoo model end to end (models.csv); spend
what is left of the budget on a seeded sweep of sampled configurations; measure idle power
again; add the run's facts to device.json (gpu_collection_runs); pack the device folder into
<out>/<device-id>.tar.gz, also when the run fails. A rerun resumes from journal.jsonl.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from estimator.files import Journal, read_device_file, write_device_file
from estimator.measure.backends.pytorch import TorchBackend, TorchSettings
from estimator.measure.budget import (
    choose_window,
    complete_models,
    next_sweep_counts,
    order_for_completion,
    sweep_rows,
    zoo_jobs,
)
from estimator.measure.collector import CollectOptions, Collector, CollectPlan, ZooJob
from estimator.measure.sensors import (
    CounterAlignedSensor,
    CounterSensor,
    NvmlSensor,
    PowerReading,
    PowerSensor,
    SensorDetection,
    detect_sensors,
    measure_counter_update_interval,
    measure_idle_power,
    nvml_device_for_cuda_index,
    open_sensor,
)
from estimator.measure.sweep import SweepLimits
from estimator.measure.timing import LoopPolicy

__all__ = ["GpuRunOptions", "GpuRunResult", "add_run_to_device_json", "collect_gpu_data", "open_power_sensor", "pack"]

logger = logging.getLogger(__name__)

END_TO_END_SOURCES = {"onnx": "the zoo's ONNX graph executed node by node in torch",
                      "torchvision": "torchvision modules (estimator.measure.zoo.build_model)",
                      "none": None}
ALIGNMENT_POLL_S = 0.0005


@dataclass(frozen=True)
class GpuRunOptions:
    """What to collect, where, and how (scripts/collect_gpu.py's options)."""

    data_dir: Path
    zoo_dir: Path
    out: Path
    device_id: str = "gpu-h200-nvml"
    budget_s: float = 480.0
    models: tuple[str, ...] = ("all",)
    batch_sizes: tuple[int, ...] = (1, 8, 32)
    end_to_end: str = "onnx"  # onnx, torchvision or none
    sweep_caps: dict[str, int] = field(default_factory=lambda: {"convolutional": 6000, "pooling": 1500,
                                                                 "dense": 2000, "other": 3500})
    sweep_seed: int = 0
    max_macs: int = SweepLimits.max_macs
    device: str = "cuda"  # cuda or cpu
    gpu_index: int = 0  # the CUDA index; NVML's is found through CUDA_VISIBLE_DEVICES
    sensor: str = "auto"
    min_window_s: float | None = None
    align: bool = True
    warmup_s: float | None = None
    model_min_time_s: float | None = None
    max_cv: float = 0.25
    max_attempts: int = 2
    idle_seconds: float = 2.0
    dtype: str = "float32"
    tf32: bool = False
    cudnn_benchmark: bool = False
    threads: int | None = None
    command_line: str = ""


@dataclass(frozen=True)
class GpuRunResult:
    """What a run measured, and the archive it packed."""

    layers: int
    zoo_configs: int
    zoo_configs_measured: int
    sweep_rows: int
    complete_models: int
    models: int
    model_runs: int
    model_runs_planned: int
    failures: list[dict[str, object]]
    power: bool
    seconds: float
    budget_s: float
    archive: Path | None = None

    def summary(self) -> str:
        """One line for the end of a run's log."""
        return (f"summary: {self.layers} layer configurations ({self.zoo_configs_measured}/{self.zoo_configs} zoo, "
                f"{self.sweep_rows} sweep), {self.complete_models}/{self.models} zoo models complete, "
                f"{self.model_runs}/{self.model_runs_planned} end-to-end timings, {len(self.failures)} skipped; "
                f"power {'measured' if self.power else 'not measured'}; {self.seconds:.0f} s of {self.budget_s:.0f} s; "
                f"{self.archive}")


def collect_gpu_data(options: GpuRunOptions) -> GpuRunResult:
    """Collect within options.budget_s and pack <out>/<device-id>.tar.gz (what was measured, even on failure)."""
    started = time.monotonic()
    out_dir = options.data_dir / options.device_id
    result: GpuRunResult | None = None
    archive: Path | None = None
    try:
        jobs = zoo_jobs(options.zoo_dir, options.models, options.batch_sizes)
        inner, detections = open_power_sensor(options)
        with inner:
            result = _collect(options, started, out_dir, jobs, inner, detections)
    finally:  # a one-shot device run hands back what it measured, also when it fails
        if out_dir.is_dir():
            archive = pack(out_dir, options.out, options.device_id)
            logger.info("archive: %s (%.2f MB)%s", archive, archive.stat().st_size / 1e6,
                        "" if result is not None else "; packed what was measured so far")
    return dataclasses.replace(result, archive=archive)


def open_power_sensor(options: GpuRunOptions) -> tuple[PowerSensor, list[SensorDetection]]:
    """The run's sensor (auto on cuda: NVML if usable, else none), on the GPU that CUDA calls options.gpu_index."""
    detections = detect_sensors()
    for detection in detections:
        logger.info("sensor %s: %s (%s)", detection.name, "available" if detection.available else "not available",
                    detection.detail)
    name = options.sensor
    if name == "auto" and options.device == "cuda":
        name = "nvml" if any(d.name == "nvml" and d.available for d in detections) else "none"
    nvml_device = nvml_device_for_cuda_index(options.gpu_index) if options.device == "cuda" else options.gpu_index
    sensor = open_sensor(name, device_index=nvml_device)
    logger.info("power sensor: %s (%s)", sensor.name, sensor.describe().get("method"))
    return sensor, detections


def _idle_power(sensor: PowerSensor, seconds: float) -> PowerReading | None:
    if seconds <= 0 or sensor.name == "none":
        return None
    if isinstance(sensor, CounterAlignedSensor):
        return sensor.wait_idle_window(seconds)
    return measure_idle_power(sensor, seconds)


def _alignment_works(backend: TorchBackend, sensor: CounterAlignedSensor, interval: float) -> bool:
    """One aligned window on a tiny op; on any failure the run goes on with unaligned windows."""
    try:
        token = sensor.begin()
        backend.time_calls(backend.overhead_runner(), LoopPolicy(warmup_s=0.0, min_time_s=max(0.02, interval)))
        reading = sensor.end(token)
    except Exception as error:  # a self-check: report, never stop the run
        logger.warning("counter alignment failed its self-check (%s: %s); windows stay unaligned",
                       type(error).__name__, error)
        return False
    sensor.reset_counts()
    if reading is None or reading.method != "energy-counter-aligned":
        logger.warning("counter alignment found no counter update within its timeout; windows stay unaligned")
        return False
    return True


def _collect(options: GpuRunOptions, started: float, out_dir: Path, jobs: list[ZooJob], inner: PowerSensor,
             detections: list[SensorDetection]) -> GpuRunResult:
    deadline = started + options.budget_s
    power = inner.name != "none"
    cuda = options.device == "cuda"
    settings = TorchSettings(device="cpu" if not cuda else f"cuda:{options.gpu_index}", dtype=options.dtype,
                             cudnn_benchmark=options.cudnn_benchmark, allow_tf32=options.tf32,
                             cpu_threads=options.threads)
    backend = TorchBackend(settings)
    facts = backend.describe()
    logger.info("torch %s on %s (CUDA %s, driver %s, cuDNN %s)", facts["torch_version"], facts.get("gpu_name", "cpu"),
                facts["cuda_version"], facts.get("driver_version"), facts["cudnn_version"])
    backend.time_calls(backend.overhead_runner(), LoopPolicy(warmup_s=0.05, min_time_s=0.05))  # initialise kernels

    interval = measure_counter_update_interval(inner, 1.0) if power else None
    latency = inner.read_latency_s() if power and isinstance(inner, CounterSensor) and inner.has_energy_counter else None
    if power and interval is None and isinstance(inner, NvmlSensor) and inner.method == "energy-counter":
        # The counter did not move within a second: too coarse for short windows; poll power instead.
        logger.info("energy counter did not update within 1 s: falling back to polling NVML power")
        inner.use_polling()
    aligned = interval is not None and options.align and isinstance(inner, NvmlSensor)
    sensor: PowerSensor = inner
    if aligned:
        clock = CounterAlignedSensor(inner, poll_s=ALIGNMENT_POLL_S, timeout_s=max(0.05, 3 * interval))
        backend.align_to(clock)
        sensor = clock
        if not _alignment_works(backend, clock, interval):
            backend.align_to(None)
            sensor = inner
            aligned = False
    window, why = choose_window(options.min_window_s, inner.name, interval, latency, aligned, ALIGNMENT_POLL_S)
    layer_min_time = max(0.01, window - interval / 2) if aligned else window
    if interval is not None:
        logger.info("energy counter: updates every %.2f ms, read in %.3f ms; window %.3f s (%s)", interval * 1e3,
                    (latency or 0) * 1e3, window, why)
    else:
        logger.info("window %.3f s (%s)", window, why)
    warmup = options.warmup_s if options.warmup_s is not None else 0.01
    model_min = options.model_min_time_s if options.model_min_time_s is not None else max(0.3 if cuda else 0.05, window)
    collect_options = CollectOptions(
        policy=LoopPolicy(warmup_s=warmup, warmup_iterations=2, min_time_s=layer_min_time, min_iterations=5),
        model_policy=LoopPolicy(warmup_s=max(warmup, 0.1 if cuda else 0.02), warmup_iterations=2,
                                min_time_s=max(0.01, model_min - interval / 2) if aligned else model_min,
                                min_iterations=5),
        max_cv=options.max_cv, max_attempts=options.max_attempts, time_budget_s=None, idle_seconds=0.0,
        skip_failures=True, model_source="onnx" if options.end_to_end == "none" else options.end_to_end,
        progress_every_s=10.0)

    idle_before = _idle_power(sensor, options.idle_seconds)
    if idle_before is not None:
        logger.info("idle power before: %.1f W", idle_before.power_w)

    def collector(budget_s: float, phase: str) -> Collector:
        return Collector(out_dir, backend, sensor, dataclasses.replace(collect_options, time_budget_s=budget_s),
                         detections, options.command_line, label=phase)

    # The tail: idle power after, device.json, the archive, and a margin for a last overrunning task.
    tail = (options.idle_seconds + 0.5 if power else 0.0) + 2.0 + max(1.0, 0.02 * options.budget_s)
    journal = Journal(out_dir / "journal.jsonl")
    model_runs = ([(job, batch) for job in jobs for batch in job.batch_sizes]
                  if options.end_to_end != "none" else [])
    # Only the timings the journal lacks need time (a resumed run kept a reserve for all of them before).
    missing_runs = [(job, batch) for job, batch in model_runs if f"model:{job.name}:{batch}" not in journal]
    per_model = collect_options.model_policy.warmup_s + collect_options.model_policy.min_time_s + (interval or 0) + 0.35
    models_reserve = len(missing_runs) * per_model

    # -- zoo layers
    order, adds = order_for_completion(jobs, set(journal.entries))
    zoo_budget = deadline - tail - models_reserve - time.monotonic()
    logger.info("zoo: %d models x batch %s, %d configurations to measure; %.0f s for them, %.1f s kept for %d "
                "end-to-end timings", len(order), list(options.batch_sizes), sum(adds.values()), zoo_budget,
                models_reserve, len(missing_runs))
    phase_start = time.monotonic()
    zoo_collector = collector(max(0.0, zoo_budget), "zoo layers")
    zoo_summary = zoo_collector.run(CollectPlan(zoo=tuple(order), end_to_end=False))
    zoo_seconds = time.monotonic() - phase_start
    measured_zoo = zoo_summary["measured"]
    zoo_complete = bool(zoo_summary["complete"])
    per_config = zoo_seconds / measured_zoo if measured_zoo >= 5 else window + warmup + 0.1 + (interval or 0) / 2
    complete = complete_models(order, adds, measured_zoo, zoo_complete)
    logger.info("zoo layers: %d/%d in %.0f s (%.0f ms each); complete models: %d/%d%s", measured_zoo,
                zoo_summary["planned"], zoo_seconds, per_config * 1e3, len(complete), len(order),
                "" if zoo_complete else " -- stopped at its share of the budget; rerun to resume")

    # -- end to end
    failures = list(zoo_collector.failures)
    done_models = _time_models(collector(0.0, "end to end"), model_runs, deadline - tail, failures)

    # -- sweep
    counts = dict.fromkeys(options.sweep_caps, 0)
    rows = 0
    if not zoo_complete:
        sweep_note = "skipped: the zoo did not finish in its share of the budget"
        logger.info("sweep %s", sweep_note)
    else:
        limits = SweepLimits(max_macs=int(options.max_macs))
        while True:
            left = deadline - tail - time.monotonic()
            if left < 1.5 + per_config:
                break
            wanted = next_sweep_counts(counts, options.sweep_caps, left, per_config)
            if wanted == counts:
                break
            round_start = time.monotonic()
            sweep_collector = collector(left, "sweep")
            summary = sweep_collector.run(CollectPlan(sweep_counts=wanted, sweep_seed=options.sweep_seed,
                                                      sweep_limits=limits, end_to_end=False))
            failures += sweep_collector.failures
            counts = wanted
            if summary["measured"] >= 5:
                per_config = (time.monotonic() - round_start) / summary["measured"]
            if not summary["complete"]:
                break
        rows = sweep_rows(out_dir)
        sweep_note = f"{rows} rows (sampled up to {counts})"
        logger.info("sweep: %s", sweep_note)

    idle_after = _idle_power(sensor, options.idle_seconds)
    if idle_after is not None:
        logger.info("idle power after: %.1f W", idle_after.power_w)

    entries = Journal(out_dir / "journal.jsonl").entries
    run_facts = {
        "script": "scripts/collect_gpu.py",
        "command_line": options.command_line,
        "budget_s": options.budget_s,
        "duration_s": round(time.monotonic() - started, 1),
        "device": {key: facts.get(key) for key in ("gpu_name", "gpu_capability", "gpu_memory_gib", "driver_version",
                                                   "torch_version", "cuda_version", "cudnn_version", "device")},
        "torch_settings": facts["settings"],
        "sensor": {
            "name": inner.name,
            "description": sensor.describe(),
            "counter_update_interval_s": interval,
            "counter_read_latency_s": latency,
            "window_alignment": "counter-update" if aligned else None,
            "loop_window_s": window,
            "loop_window_rule": why,
            "layer_loop_min_time_s": layer_min_time,
            "idle_power_before_w": None if idle_before is None else idle_before.power_w,
            "idle_power_after_w": None if idle_after is None else idle_after.power_w,
            "idle_seconds": options.idle_seconds if power else 0.0,
        },
        "end_to_end_source": END_TO_END_SOURCES[options.end_to_end],
        "zoo": {
            "models": [job.name for job in order],
            "batch_sizes": list(options.batch_sizes),
            "configurations_added_per_model": adds,
            "configurations_measured_this_run": measured_zoo,
            "complete": zoo_complete,
            "complete_models": complete,
            "seconds_per_configuration": per_config,
        },
        "end_to_end": {"planned": len(model_runs), "timed": done_models},
        "sweep": {"note": sweep_note, "sampled_counts": counts, "rows": rows},
        "skipped": failures,
    }
    add_run_to_device_json(out_dir, run_facts, idle_before)
    return GpuRunResult(
        layers=sum(1 for entry in entries.values() if entry.get("kind") == "layer"),
        zoo_configs=zoo_summary["planned"],
        zoo_configs_measured=measured_zoo,
        sweep_rows=rows,
        complete_models=len(complete),
        models=len(jobs),
        model_runs=sum(1 for entry in entries.values() if entry.get("kind") == "model"),
        model_runs_planned=len(model_runs),
        failures=failures,
        power=power,
        seconds=time.monotonic() - started,
        budget_s=options.budget_s,
    )


def _time_models(collector: Collector, model_runs: list[tuple[ZooJob, int]], deadline: float,
                 failures: list[dict[str, object]]) -> int:
    """Time each zoo model end to end until the deadline; returns how many were timed."""
    if not model_runs:
        return 0
    done = 0
    logger.info("end to end: %d timings", len(model_runs))
    for index, (job, batch) in enumerate(model_runs, 1):
        if time.monotonic() > deadline:
            logger.info("end to end: stopped at the budget")
            break
        entry = collector.measure_model(job, batch)
        done += bool(entry)
        logger.info("end to end: %d/%d %s batch %d: %.3f ms", index, len(model_runs), job.name, batch,
                    entry.get("runtime_ms", float("nan")))
    collector.write_outputs()
    failures += collector.failures
    return done


def add_run_to_device_json(out_dir: Path, run_facts: dict[str, object], idle: PowerReading | None) -> None:
    """Append this run's facts to device.json's gpu_collection_runs (and record the idle power)."""
    document = read_device_file(out_dir) or {"device_id": out_dir.name}
    earlier = document.pop("gpu_collection", None)  # written by versions that kept only the last run
    document["gpu_collection_runs"] = [*([earlier] if earlier else []), *document.get("gpu_collection_runs", []),
                                       run_facts]
    if idle is not None:
        document.setdefault("power_sensor", {})["idle_power_w"] = idle.power_w
    write_device_file(out_dir, document)


def pack(folder: Path, out: Path, device_id: str) -> Path:
    """training_data/<device-id>/ -> <out>/<device-id>.tar.gz (written whole, then renamed)."""
    out.mkdir(parents=True, exist_ok=True)
    archive = out / f"{device_id}.tar.gz"
    partial = out / f".{device_id}.tar.gz.partial"
    with tarfile.open(partial, "w:gz") as tar:
        tar.add(folder, arcname=device_id)
    os.replace(partial, archive)
    return archive
