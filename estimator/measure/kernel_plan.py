"""What an in-context collection measures, and the device.json that records how.

Graphs come from three places: the zoo's shape-only models at chosen batch sizes, seeded
generated networks of every family (one batch size each, drawn so that no graph is too slow),
and the unseen models, which are measured only to judge a profile (never trained on).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from estimator.files import merge_device_file, read_device_file
from estimator.measure.backends.ort import OrtBackend
from estimator.measure.fusion_probes import detect_fusion_rules
from estimator.measure.incontext import QUANTILE, SPINNING_NOTE, RunPolicy
from estimator.measure.kernel_collector import DriftGuard, GraphJob, KernelCollector, Progress
from estimator.measure.layout import now
from estimator.predict.fingerprint import machine_facts, machine_fingerprint
from graph.build import RANDOM_WEIGHTS
from graph.extract import extract_layers
from graph.generate import FAMILIES, generate

__all__ = ["collect_in_context", "file_jobs", "generated_jobs", "reference_job", "write_device_json", "zoo_family"]

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]
_ZOO_FAMILIES = ("resnext", "resnet", "vgg", "mobilenet", "convnext", "googlenet", "alexnet", "lenet", "densenet",
                 "efficientnet", "regnet", "shufflenet", "squeezenet", "mnasnet", "inception", "wide_resnet")


def zoo_family(name: str) -> str:
    """The architecture family of a zoo model's name (resnet50 -> resnet, mobilenet_v3_small -> mobilenet)."""
    return next((family for family in _ZOO_FAMILIES if name.startswith(family)), name)


def file_jobs(paths: Iterable[Path], source: str, batch_sizes: Sequence[int]) -> list[GraphJob]:
    """One job per (model file, batch size); the family is read from the file's name."""
    jobs = []
    for path in sorted(paths):
        relative = str(path.resolve().relative_to(ROOT)) if path.resolve().is_relative_to(ROOT) else str(path)
        jobs += [GraphJob(path.stem, source, zoo_family(path.stem), path, batch, relative) for batch in batch_sizes]
    return jobs


def generated_jobs(per_family: int, families: Sequence[str] = FAMILIES, first_seed: int = 0,
                   batch_sizes: Sequence[int] = (1, 2, 4, 8), max_macs: float = 1.5e9) -> list[GraphJob]:
    """`per_family` networks of each family, each at one batch size drawn from its seed and kept under `max_macs`."""
    jobs = []
    for family in families:
        for seed in range(first_seed, first_seed + per_family):
            network = generate(family, seed)
            data = network.model.SerializeToString()
            macs = sum(getattr(layer, "macs", 0) for layer in extract_layers(data, batch_size=1).layers)
            allowed = [b for b in batch_sizes if b * macs <= max_macs]
            if not allowed:
                continue
            rng = np.random.default_rng([FAMILIES.index(family), seed, 7])
            jobs.append(GraphJob(network.name, "generated", family, data, int(rng.choice(allowed))))
    return jobs


def reference_job() -> GraphJob:
    """The drift guard's fixed graph: a generated residual network of a few milliseconds."""
    network = generate("basic_residual", 1_000_003)
    return GraphJob("reference", "reference", network.family, network.model.SerializeToString(), 1)


def collect_in_context(out_dir: Path, jobs: Sequence[GraphJob], backend: OrtBackend, policy: RunPolicy | None = None,
                       guard: DriftGuard | None = None, progress: Progress | None = None,
                       deadline: float | None = None, command: str = "") -> dict[str, object]:
    """Probe the fusion rules, measure every job the journal lacks, and write device.json."""
    started = time.monotonic()
    rules = detect_fusion_rules(backend.settings.optimization_level, backend.settings.provider)
    collector = KernelCollector(out_dir, backend, rules, policy or RunPolicy(), guard, progress)
    summary = collector.run(jobs, deadline)
    summary["duration_s"] = round(time.monotonic() - started, 1)
    write_device_json(collector, summary, command)
    return summary


def write_device_json(collector: KernelCollector, summary: dict[str, object], command: str) -> None:
    """device.json of an in-context collection: machine, fingerprint, backend, rules, method, drift, runs."""
    references = [float(entry["end_to_end_ms"]) for entry in collector.references()]
    backend, guard = collector.backend, collector.guard
    settings = backend.settings
    previous = read_device_file(collector.out_dir) or {}
    merge_device_file(collector.out_dir, {
        "device_id": collector.out_dir.name,
        "machine": machine_facts(),
        "fingerprint": machine_fingerprint(settings.intra_op_threads, settings.provider, settings.optimization_level),
        "backend": backend.describe(),
        "fusion_rules": collector.rules.to_dict(),
        "power_sensor": {"selected": {"sensor": "none", "method": None,
                                      "detail": "kernels timed in context: no power sensor used"},
                         "power_measured": False, "idle_power_w": None},
        "method": {
            "unit": "kernels",
            "runtime": f"every kernel's time inside its whole graph from ONNX Runtime's profiler, {QUANTILE}th "
                       "percentile over its runs; end to end: the plain session's runs' "
                       f"{QUANTILE}th percentile (thread_pools: how the two sessions run)",
            "thread_pools": SPINNING_NOTE,
            "policy": dataclasses.asdict(collector.policy),
            "drift_guard": None if guard is None else {"every_s": guard.every_s, "max_drift": guard.max_drift,
                                                       "reference": guard.reference.name},
            "pool_check": None if guard is None or settings.intra_op_threads < 2 else {
                **dataclasses.asdict(guard.pool), "what": "the reference graph's speedup at these threads over 1 "
                "thread, right before (after waiting up to wait_s) and after each graph; a graph below min_speedup "
                "either side is timed again once (estimator.measure.cores)"},
        },
        "skipped": [{key: entry[key] for key in ("model", "source", "batch_size", "reason")}
                    for entry in collector.skipped()],
        "drift": {"reference_ms": references,
                  "spread_pct": float((max(references) / min(references) - 1) * 100) if references else None,
                  "graphs_kept_without_pool_cores": sum(not entry.get("pool_had_cores", True)
                                                        for entry in collector.graph_entries())},
        "runs": [*previous.get("runs", []), {"finished_at": now(), "command_line": command, **summary,
                                             "random_weights": RANDOM_WEIGHTS}],
    })
