#!/usr/bin/env python3
"""One command that collects a GPU's training data with PyTorch, within a time budget.

In order: open the power sensor (NVML on a GPU), measure how often its energy counter updates
and choose the loop window from it, measure idle power; measure every distinct layer
configuration of the zoo models at the chosen batch sizes (models ordered so that as many as
possible are complete if time runs out); time every zoo model end to end (models.csv); spend
what is left of the budget on a seeded sweep of sampled configurations; measure idle power
again; add the run's facts to device.json; pack training_data/<device-id>/ into
<out>/<device-id>.tar.gz. A rerun of the same command resumes from journal.jsonl.

Layers run as torch calls (estimator/measure/torch_backend.py); whole models run as their ONNX
graph executed node by node in torch (the same graph whose layers are measured), or, with
--end-to-end torchvision, as the torchvision modules. Nothing here needs CatBoost.

Examples:
  PYTHONUNBUFFERED=1 python scripts/collect_gpu.py --out "$OUT" --budget-s 480
  python scripts/collect_gpu.py --device cpu --sensor none --device-id cpu-torch --models lenet \\
      --batch-sizes 1 --budget-s 20 --out /tmp/out
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import shlex
import statistics
import sys
import tarfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from estimator.errors import EstimatorError, MeasureError  # noqa: E402
from estimator.files import Journal, write_atomic  # noqa: E402
from estimator.measure.collector import CollectOptions, Collector, CollectPlan, ZooJob, config_key  # noqa: E402
from estimator.measure.sensors import (  # noqa: E402
    SENSOR_NAMES,
    NvmlSensor,
    PowerReading,
    PowerSensor,
    detect_sensors,
    measure_counter_update_interval,
    measure_idle_power,
    open_sensor,
)
from estimator.measure.sweep import SweepLimits  # noqa: E402
from estimator.measure.timing import LoopPolicy  # noqa: E402
from estimator.measure.torch_backend import CounterAlignedSensor, TorchBackend, TorchSettings  # noqa: E402
from graph.extract import extract_layers  # noqa: E402
from graph.records import OtherLayer  # noqa: E402

ZOO_DIR = ROOT / "training_data" / "zoo"
MAX_QUANTISATION_ERROR = 0.02
SWEEP_WEIGHTS = {"convolutional": 0.45, "pooling": 0.12, "dense": 0.15, "other": 0.28}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_argument_group("where")
    where.add_argument("--device-id", default="gpu-h200-nvml", help="folder under --data-dir (default: gpu-h200-nvml)")
    where.add_argument("--data-dir", type=Path, default=ROOT / "training_data", help="default: training_data/")
    where.add_argument("--zoo-dir", type=Path, default=ZOO_DIR,
                       help="shape-only zoo models (default: training_data/zoo)")
    where.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or "out"),
                       help="where the archive goes (default: $OUT, else ./out)")
    what = parser.add_argument_group("what")
    what.add_argument("--budget-s", type=float, default=480.0,
                      help="seconds for the whole run, archive included (default: 480)")
    what.add_argument("--models", nargs="+", default=["all"], help="zoo models, or 'all' (default: all)")
    what.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 8, 32], help="default: 1 8 32")
    what.add_argument("--end-to-end", choices=("onnx", "torchvision", "none"), default="onnx",
                      help="whole-model timing: the ONNX graph run in torch (default), torchvision modules, or none")
    what.add_argument("--sweep-conv", type=int, default=6000, help="at most this many sampled convolutions")
    what.add_argument("--sweep-pool", type=int, default=1500, help="at most this many sampled poolings")
    what.add_argument("--sweep-dense", type=int, default=2000, help="at most this many sampled dense layers")
    what.add_argument("--sweep-other", type=int, default=3500, help="at most this many sampled other ops")
    what.add_argument("--sweep-seed", type=int, default=0, help="seed of the sweep (default: 0)")
    what.add_argument("--max-macs", type=float, default=SweepLimits.max_macs, help="cap on one sampled layer's MACs")
    how = parser.add_argument_group("how")
    how.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help="where torch runs (default: cuda)")
    how.add_argument("--gpu-index", type=int, default=0, help="CUDA and NVML device index (default: 0)")
    how.add_argument("--sensor", default="auto", choices=("auto", *SENSOR_NAMES),
                     help="power sensor; auto: NVML on cuda, else the first available (default: auto)")
    how.add_argument("--min-window-s", type=float,
                     help="seconds each layer loop's power window lasts at least (default: from the sensor)")
    how.add_argument("--no-align", action="store_true",
                     help="do not align windows to energy-counter updates (then window = update interval / 0.02)")
    how.add_argument("--warmup-s", type=float, help="warm-up seconds per layer (default: 0.01)")
    how.add_argument("--model-min-time-s", type=float, help="seconds each end-to-end loop runs at least")
    how.add_argument("--max-cv", type=float, default=0.25, help="re-measure when the loop's CV is above this")
    how.add_argument("--max-attempts", type=int, default=2, help="measurements per configuration at most")
    how.add_argument("--idle-seconds", type=float, default=2.0, help="idle-power seconds before and after")
    how.add_argument("--dtype", default="float32", choices=("float32", "float16", "bfloat16"))
    how.add_argument("--tf32", action="store_true", help="allow TF32 for float32 convolutions and matmuls")
    how.add_argument("--cudnn-benchmark", action="store_true", help="let cuDNN benchmark each configuration")
    how.add_argument("--threads", type=int, help="torch CPU threads (default: torch's own)")
    return parser


# ----------------------------------------------------------------------------- progress


class Log:
    """Timestamped lines (no carriage returns: logs stay readable when captured)."""

    def __init__(self, started: float, budget_s: float) -> None:
        self.started = started
        self.budget_s = budget_s

    def __call__(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s/{self.budget_s:.0f}s] {message}", flush=True)


class PhaseProgress:
    """The collector's progress callback: a line every few seconds with rate and ETA."""

    def __init__(self, log: Log, phase: str, every_s: float = 10.0) -> None:
        self.log = log
        self.phase = phase
        self.every_s = every_s
        self.started = time.monotonic()
        self.last = 0.0

    def __call__(self, done: int, total: int, label: str) -> None:
        now = time.monotonic()
        if done not in (0, total) and now - self.last < self.every_s:
            return
        self.last = now
        elapsed = now - self.started
        rate = done / elapsed if elapsed > 0 and done else 0.0
        eta = f"{(total - done) / rate:.0f}s" if rate else "?"
        self.log(f"{self.phase}: {done}/{total} ({rate:.1f}/s, ETA {eta}) {label}")


# ----------------------------------------------------------------------------- collector


class GpuCollector(Collector):
    """A Collector that skips (and lists) configurations torch cannot run instead of stopping."""

    def __init__(self, *args, end_to_end: str = "onnx", log: Callable[[str], None] = print, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.end_to_end = end_to_end
        self.log = log
        self.failures: list[dict[str, object]] = []
        self._build_model: Callable[[str], tuple[object, tuple[int, ...]]] | None = None

    def measure_layer(self, layer, opset: int) -> dict[str, object]:
        try:
            return super().measure_layer(layer, opset)
        except MeasureError as error:
            self._fail(config_key(layer), f"{layer.layer_type} {layer.op_type}", error)
            return {}

    def measure_model(self, job: ZooJob, batch_size: int) -> dict[str, object]:
        try:
            if self.end_to_end == "torchvision":
                return self._measure_module(job, batch_size)
            return super().measure_model(job, batch_size)
        except MeasureError as error:
            self._fail(f"model:{job.name}:{batch_size}", f"model {job.name} batch {batch_size}", error)
            return {}

    def _measure_module(self, job: ZooJob, batch_size: int) -> dict[str, object]:
        key = f"model:{job.name}:{batch_size}"
        cached = self.journal.get(key)
        if cached is not None:
            return cached
        if self._build_model is None:
            self._build_model = _load_build_model()
        try:
            module, input_shape = self._build_model(job.name)
        except ImportError as error:
            raise MeasureError(f"--end-to-end torchvision needs torchvision: {error}") from None
        run = self.backend.torch_model_runner(module, input_shape, batch_size)
        timing, reading, attempts = self._measure(run, self.options.model_policy)
        entry = self._entry(key, "model", timing, reading, attempts, model=job.name, batch_size=batch_size,
                            source="torchvision")
        self.journal.append(entry)
        return entry

    def _fail(self, key: str, label: str, error: Exception) -> None:
        if not any(failure["key"] == key for failure in self.failures):
            self.failures.append({"key": key, "what": label, "error": str(error)})
            self.log(f"skipped {label}: {error}")


def _load_build_model() -> Callable[[str], tuple[object, tuple[int, ...]]]:
    spec = importlib.util.spec_from_file_location("export_zoo", ROOT / "scripts" / "export_zoo.py")
    if spec is None or spec.loader is None:
        raise MeasureError("cannot load scripts/export_zoo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_model


# ----------------------------------------------------------------------------- planning


def zoo_jobs(args: argparse.Namespace) -> list[ZooJob]:
    known = sorted(p.stem for p in args.zoo_dir.glob("*.onnx"))
    names = known if args.models == ["all"] else args.models
    for name in names:
        if name not in known:
            raise EstimatorError(f"unknown model {name!r}: no {args.zoo_dir / (name + '.onnx')}; "
                                 f"known models: {', '.join(known) or 'none'}")
    return [ZooJob(name, args.zoo_dir / f"{name}.onnx", tuple(args.batch_sizes)) for name in names]


def order_for_completion(jobs: list[ZooJob], measured: set[str]) -> tuple[list[ZooJob], dict[str, int]]:
    """Cheapest-first greedy order, so that a cut-short run leaves as many complete models as possible.

    Returns the order and, per model, how many configurations it adds to those before it.
    """
    keys: dict[str, set[str]] = {}
    for job in jobs:
        found: set[str] = set()
        for batch in job.batch_sizes:
            for layer in extract_layers(job.path, batch_size=batch).layers:
                if not (isinstance(layer, OtherLayer) and layer.is_free):
                    found.add(config_key(layer))
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


def choose_window(args: argparse.Namespace, sensor_name: str, interval: float | None, latency: float | None,
                  aligned: bool, poll_s: float) -> tuple[float, str]:
    """The loop window (seconds) and why: quantisation error of the energy reading under 2%."""
    if args.min_window_s is not None:
        return args.min_window_s, "given by --min-window-s"
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


def counter_read_latency(sensor: PowerSensor, reads: int = 30) -> float | None:
    read = getattr(sensor, "_read_counter", None)
    if read is None or not getattr(sensor, "has_energy_counter", False):
        return None
    samples = []
    for _ in range(reads):
        before = time.perf_counter()
        read()
        samples.append(time.perf_counter() - before)
    return statistics.median(samples)


def _alignment_works(backend: TorchBackend, sensor: CounterAlignedSensor, interval: float, log: Log) -> bool:
    """One aligned window on a tiny op; on any failure the run goes on with unaligned windows."""
    try:
        token = sensor.begin()
        backend.time_calls(backend.overhead_runner(), LoopPolicy(warmup_s=0.0, min_time_s=max(0.02, interval)))
        reading = sensor.end(token)
    except Exception as error:  # a self-check: report, never stop the run
        log(f"counter alignment failed its self-check ({type(error).__name__}: {error}); windows stay unaligned")
        return False
    sensor.aligned_windows = sensor.unaligned_windows = 0
    if reading is None or reading.method != "energy-counter-aligned":
        log("counter alignment found no counter update within its timeout; windows stay unaligned")
        return False
    return True


def idle_power(sensor: PowerSensor, seconds: float) -> PowerReading | None:
    if seconds <= 0 or sensor.name == "none":
        return None
    if isinstance(sensor, CounterAlignedSensor):
        return sensor.wait_idle_window(seconds)
    return measure_idle_power(sensor, seconds)


def open_power_sensor(args: argparse.Namespace, log: Log) -> tuple[PowerSensor, list]:
    detections = detect_sensors()
    for detection in detections:
        log(f"sensor {detection.name}: {'available' if detection.available else 'not available'} ({detection.detail})")
    name = args.sensor
    if name == "auto" and args.device == "cuda":
        name = "nvml" if any(d.name == "nvml" and d.available for d in detections) else "none"
    sensor = open_sensor(name, device_index=args.gpu_index)
    log(f"power sensor: {sensor.name} ({sensor.describe().get('method')})")
    return sensor, detections


# ----------------------------------------------------------------------------- the run


def main(argv: list[str] | None = None) -> int:
    started = time.monotonic()
    args = build_parser().parse_args(argv)
    log = Log(started, args.budget_s)
    deadline = started + args.budget_s
    command = shlex.join(["scripts/collect_gpu.py", *(argv if argv is not None else sys.argv[1:])])
    out_dir = args.data_dir / args.device_id
    result: dict[str, object] | None = None
    status = 0
    try:
        jobs = zoo_jobs(args)
        inner, detections = open_power_sensor(args, log)
        with inner:
            result = _collect(args, log, started, deadline, command, out_dir, jobs, inner, detections)
    except EstimatorError as error:
        print(f"error: {error}", file=sys.stderr)
        status = 2
    except KeyboardInterrupt:
        print("\ninterrupted: what was measured is kept in journal.jsonl; rerun the same command to resume",
              file=sys.stderr)
        status = 130
    except Exception:  # a one-shot device run must still hand back what it measured
        traceback.print_exc()
        status = 1
    if not out_dir.is_dir():
        return status or 2
    archive = pack(out_dir, args.out, args.device_id)
    log(f"archive: {archive} ({archive.stat().st_size / 1e6:.2f} MB)")
    if result is None:
        print(f"summary: failed (exit {status}); packed what was measured so far into {archive}", flush=True)
        return status
    took = time.monotonic() - started
    print(f"summary: {result['layers']} layer configurations ({result['zoo_configs_measured']}/"
          f"{result['zoo_configs']} zoo, {result['sweep_rows']} sweep), {result['complete_models']}/{len(jobs)} "
          f"zoo models complete, {result['model_runs']}/{result['model_runs_planned']} end-to-end timings, "
          f"{len(result['failures'])} skipped; power {'measured' if result['power'] else 'not measured'}; "
          f"{took:.0f} s of {args.budget_s:.0f} s; {archive}", flush=True)
    return 0


def _collect(args, log: Log, started: float, deadline: float, command: str, out_dir: Path, jobs: list[ZooJob],
             inner: PowerSensor, detections) -> dict[str, object]:
    power = inner.name != "none"
    settings = TorchSettings(device=args.device if args.device == "cpu" else f"cuda:{args.gpu_index}",
                             dtype=args.dtype, cudnn_benchmark=args.cudnn_benchmark, allow_tf32=args.tf32,
                             cpu_threads=args.threads)
    backend = TorchBackend(settings)
    facts = backend.describe()
    log(f"torch {facts['torch_version']} on {facts.get('gpu_name', 'cpu')} (CUDA {facts['cuda_version']}, "
        f"driver {facts.get('driver_version')}, cuDNN {facts['cudnn_version']})")
    backend.time_calls(backend.overhead_runner(), LoopPolicy(warmup_s=0.05, min_time_s=0.05))  # initialise kernels

    interval = measure_counter_update_interval(inner, 1.0) if power else None
    latency = counter_read_latency(inner) if power else None
    if power and interval is None and getattr(inner, "method", None) == "energy-counter":
        # The counter did not move within a second: too coarse for short windows; poll power instead.
        log("energy counter did not update within 1 s: falling back to polling NVML power")
        inner.method = "polling"
        inner.start()
    aligned = interval is not None and not args.no_align and isinstance(inner, NvmlSensor)
    poll_s = 0.0005
    sensor: PowerSensor = inner
    if aligned:
        sensor = CounterAlignedSensor(inner, poll_s=poll_s, timeout_s=max(0.05, 3 * interval))
        backend.clock = sensor
        backend.align_timeout_s = sensor.timeout_s
        if not _alignment_works(backend, sensor, interval, log):
            backend.clock = None
            sensor = inner
            aligned = False
    window, why = choose_window(args, inner.name, interval, latency, aligned, poll_s)
    layer_min_time = max(0.01, window - interval / 2) if aligned else window
    if interval is not None:
        log(f"energy counter: updates every {interval * 1e3:.2f} ms, read in {(latency or 0) * 1e3:.3f} ms; "
            f"window {window:.3f} s ({why})")
    else:
        log(f"window {window:.3f} s ({why})")
    cuda = args.device == "cuda"
    warmup = args.warmup_s if args.warmup_s is not None else 0.01
    model_min = args.model_min_time_s if args.model_min_time_s is not None else max(0.3 if cuda else 0.05, window)
    options = CollectOptions(
        policy=LoopPolicy(warmup_s=warmup, warmup_iterations=2, min_time_s=layer_min_time, min_iterations=5),
        model_policy=LoopPolicy(warmup_s=max(warmup, 0.1 if cuda else 0.02), warmup_iterations=2,
                                min_time_s=max(0.01, model_min - interval / 2) if aligned else model_min,
                                min_iterations=5),
        max_cv=args.max_cv, max_attempts=args.max_attempts, time_budget_s=None, idle_seconds=0.0)

    idle_before = idle_power(sensor, args.idle_seconds)
    if idle_before is not None:
        log(f"idle power before: {idle_before.power_w:.1f} W")

    def collector(budget_s: float, phase: str) -> GpuCollector:
        return GpuCollector(out_dir, backend, sensor, _with_budget(options, budget_s), PhaseProgress(log, phase),
                            detections, command, end_to_end=args.end_to_end, log=log)

    # The tail: idle power after, device.json, the archive, and a margin for a last overrunning task.
    tail = (args.idle_seconds + 0.5 if power else 0.0) + 2.0 + max(1.0, 0.02 * args.budget_s)
    model_runs = [(job, batch) for job in jobs for batch in job.batch_sizes] if args.end_to_end != "none" else []
    per_model = options.model_policy.warmup_s + options.model_policy.min_time_s + (interval or 0) + 0.35
    models_reserve = len(model_runs) * per_model

    # -- zoo layers
    order, adds = order_for_completion(jobs, set(Journal(out_dir / "journal.jsonl").entries))
    zoo_configs_new = sum(adds.values())
    zoo_budget = deadline - tail - models_reserve - time.monotonic()
    log(f"zoo: {len(order)} models x batch {list(args.batch_sizes)}, {zoo_configs_new} configurations to measure; "
        f"{zoo_budget:.0f} s for them, {models_reserve:.1f} s kept for {len(model_runs)} end-to-end timings")
    zoo_plan = CollectPlan(zoo=tuple(order), end_to_end=False)
    phase_start = time.monotonic()
    zoo_collector = collector(max(0.0, zoo_budget), "zoo layers")
    zoo_summary = zoo_collector.run(zoo_plan)
    zoo_seconds = time.monotonic() - phase_start
    measured_zoo = zoo_summary["measured"]
    zoo_complete = bool(zoo_summary["complete"])
    per_config = zoo_seconds / measured_zoo if measured_zoo >= 5 else window + warmup + 0.1 + (interval or 0) / 2
    complete_models = _complete_models(order, adds, measured_zoo, zoo_complete)
    log(f"zoo layers: {measured_zoo}/{zoo_summary['planned']} in {zoo_seconds:.0f} s "
        f"({per_config * 1e3:.0f} ms each); complete models: {len(complete_models)}/{len(order)}"
        + ("" if zoo_complete else " -- stopped at its share of the budget; rerun to resume"))

    # -- end to end
    failures = list(zoo_collector.failures)
    models_collector = collector(0.0, "end to end")
    done_models = 0
    if model_runs:
        progress = PhaseProgress(log, "end to end")
        models_deadline = deadline - tail
        progress(0, len(model_runs), "starting")
        for index, (job, batch) in enumerate(model_runs, 1):
            if time.monotonic() > models_deadline:
                log("end to end: stopped at the budget")
                break
            entry = models_collector.measure_model(job, batch)
            done_models += bool(entry)
            runtime = entry.get("runtime_ms", float("nan"))
            progress(index, len(model_runs), f"{job.name} batch {batch}: {runtime:.3f} ms")
        models_collector.write_outputs(CollectPlan(), {}, {})
        failures += models_collector.failures

    # -- sweep
    caps = {"convolutional": args.sweep_conv, "pooling": args.sweep_pool, "dense": args.sweep_dense,
            "other": args.sweep_other}
    counts = dict.fromkeys(caps, 0)
    sweep_rows = 0
    sweep_note = ""
    limits = SweepLimits(max_macs=int(args.max_macs))
    if not zoo_complete:
        sweep_note = "skipped: the zoo did not finish in its share of the budget"
        log(f"sweep {sweep_note}")
    else:
        while True:
            left = deadline - tail - time.monotonic()
            if left < 1.5 + per_config:
                break
            step = max(16, int(0.6 * left / per_config))
            wanted = {t: min(caps[t], counts[t] + math.ceil(step * SWEEP_WEIGHTS[t])) for t in caps}
            if wanted == counts:
                break
            round_start = time.monotonic()
            sweep_collector = collector(left, "sweep")
            summary = sweep_collector.run(CollectPlan(sweep_counts=wanted, sweep_seed=args.sweep_seed,
                                                      sweep_limits=limits, end_to_end=False))
            failures += sweep_collector.failures
            counts = wanted
            if summary["measured"] >= 5:
                per_config = (time.monotonic() - round_start) / summary["measured"]
            if not summary["complete"]:
                break
        sweep_rows = _sweep_rows(out_dir)
        sweep_note = f"{sweep_rows} rows (sampled up to {counts})"
        log(f"sweep: {sweep_note}")

    idle_after = idle_power(sensor, args.idle_seconds)
    if idle_after is not None:
        log(f"idle power after: {idle_after.power_w:.1f} W")

    journal_entries = Journal(out_dir / "journal.jsonl").entries
    layers_measured = sum(1 for entry in journal_entries.values() if entry.get("kind") == "layer")
    extras = {
        "script": "scripts/collect_gpu.py",
        "command_line": command,
        "budget_s": args.budget_s,
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
            "idle_seconds": args.idle_seconds if power else 0.0,
        },
        "end_to_end_source": {"onnx": "the zoo's ONNX graph executed node by node in torch",
                              "torchvision": "torchvision modules (scripts/export_zoo.py build_model)",
                              "none": None}[args.end_to_end],
        "zoo": {
            "models": [job.name for job in order],
            "batch_sizes": list(args.batch_sizes),
            "configurations_added_per_model": adds,
            "configurations_measured_this_run": measured_zoo,
            "complete": zoo_complete,
            "complete_models": complete_models,
            "seconds_per_configuration": per_config,
        },
        "end_to_end": {"planned": len(model_runs), "timed": done_models},
        "sweep": {"note": sweep_note, "sampled_counts": counts, "rows": sweep_rows},
        "skipped": failures,
    }
    _add_to_device_json(out_dir, extras, idle_before)
    return {
        "layers": layers_measured,
        "zoo_configs": zoo_summary["planned"],
        "zoo_configs_measured": measured_zoo,
        "sweep_rows": sweep_rows,
        "complete_models": len(complete_models),
        "model_runs": sum(1 for entry in journal_entries.values() if entry.get("kind") == "model"),
        "model_runs_planned": len(model_runs),
        "failures": failures,
        "power": power,
    }


def _with_budget(options: CollectOptions, budget_s: float) -> CollectOptions:
    return CollectOptions(policy=options.policy, model_policy=options.model_policy, max_cv=options.max_cv,
                          max_attempts=options.max_attempts, time_budget_s=budget_s, idle_seconds=0.0)


def _complete_models(order: list[ZooJob], adds: dict[str, int], measured: int, complete: bool) -> list[str]:
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


def _sweep_rows(out_dir: Path) -> int:
    rows = 0
    for path in (out_dir / "sweep").glob("*.csv"):
        with path.open() as stream:
            rows += max(0, sum(1 for _ in stream) - 1)
    return rows


def _add_to_device_json(out_dir: Path, extras: dict[str, object], idle: PowerReading | None) -> None:
    path = out_dir / "device.json"
    document = json.loads(path.read_text()) if path.exists() else {"device_id": out_dir.name}
    document["gpu_collection"] = extras
    if idle is not None:
        document.setdefault("power_sensor", {})["idle_power_w"] = idle.power_w
    write_atomic(path, json.dumps(document, indent=2, default=str) + "\n")


def pack(folder: Path, out: Path, device_id: str) -> Path:
    """training_data/<device-id>/ -> <out>/<device-id>.tar.gz (written whole, then renamed)."""
    out.mkdir(parents=True, exist_ok=True)
    archive = out / f"{device_id}.tar.gz"
    partial = out / f".{device_id}.tar.gz.partial"
    with tarfile.open(partial, "w:gz") as tar:
        tar.add(folder, arcname=device_id)
    os.replace(partial, archive)
    return archive


if __name__ == "__main__":
    raise SystemExit(main())
