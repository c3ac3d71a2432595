"""A device folder's layout: journal keys, the per-layer CSVs, models.csv and device.json.

training_data/<device-id>/ holds device.json, journal.jsonl, <model>/<type>.csv, sweep/<type>.csv
and models.csv; every file but the journal is regenerated from the journal and replaced atomically.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from estimator.files import Journal, merge_device_file, read_device_file, write_csv_atomic
from estimator.measure.backends.base import Backend
from estimator.measure.sensors import PowerSensor, SensorDetection
from estimator.predict.fingerprint import machine_facts
from graph.build import RANDOM_WEIGHTS
from graph.frames import layer_row
from graph.records import Layer, ModelLayers, is_costed
from graph.schema import CSV_FILES, FEATURE_COLUMNS, LAYER_TYPES

__all__ = [
    "config_key",
    "measurable",
    "measured_layers_frame",
    "now",
    "write_csvs",
    "write_device_json",
]


def config_key(layer: Layer) -> str:
    """A stable id of a layer's configuration: every field except its name, position and graph context."""
    fields = dataclasses.asdict(layer)
    for context in ("name", "index", "producer_op"):
        fields.pop(context, None)
    text = json.dumps([type(layer).__name__, fields], sort_keys=True, default=list)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def write_csvs(out_dir: Path, journal: Journal, zoo_layers: dict[tuple[str, int], ModelLayers],
               sweep: dict[str, list[Layer]]) -> None:
    """<model>/<type>.csv for fully measured models, sweep/<type>.csv, and models.csv, from the journal."""
    by_model: dict[str, list[ModelLayers]] = {}
    for (name, _), model_layers in zoo_layers.items():
        by_model.setdefault(name, []).append(model_layers)
    for name, batches in by_model.items():
        for layer_type in LAYER_TYPES:
            frames = [measured_layers_frame(m.layers, layer_type, journal) for m in batches]
            frame = pd.concat(frames, ignore_index=True)
            if frame.empty or frame["runtime"].isna().any():
                continue  # not fully measured yet: the next (resumed) run writes it
            frame.insert(frame.columns.get_loc("layer_name") + 1, "model", name)
            write_csv_atomic(out_dir / name / CSV_FILES[layer_type], frame)
    for layer_type, layers in sweep.items():
        frame = measured_layers_frame(layers, layer_type, journal).dropna(subset=["runtime"])
        write_csv_atomic(out_dir / "sweep" / CSV_FILES[layer_type], frame)
    models = [entry for entry in journal.entries.values() if entry.get("kind") == "model"]
    if models:
        frame = pd.DataFrame(models)
        frame["energy_mj"] = frame["energy_mj_per_call"]
        columns = ["model", "batch_size", "runtime_ms", "runtime_p10_ms", "runtime_p90_ms", "runtime_cv",
                   "iterations", "attempts", "power_uw", "energy_mj", "measured_at"]
        frame = frame[columns].sort_values(["model", "batch_size"], ignore_index=True)
        write_csv_atomic(out_dir / "models.csv", frame)


def write_device_json(out_dir: Path, run: dict[str, object], sweep_counts: dict[str, int], sweep_seed: int,
                      sweep_limits: dict[str, object], sensor: PowerSensor, backend: Backend,
                      detections: list[SensorDetection], method: dict[str, object]) -> None:
    """device.json: the machine, backend, sensor, method and sweep, with this run appended to `runs`.

    Keys that other tools added to the previous device.json (e.g. gpu_collection_runs) are kept.
    """
    previous = read_device_file(out_dir) or {}
    # the zoo models timed end to end are filled by graph.build.with_random_weights; the one-node layer models are not
    runs = [*previous.get("runs", []), {**run, "random_weights": f"end-to-end models: {RANDOM_WEIGHTS}; one-node "
                                                                 "layers: every float uniform in 0.5-1.5"}]
    sweep = dict(previous.get("sweep", {}).get("counts", {}))
    for layer_type, count in sweep_counts.items():
        sweep[layer_type] = max(count, sweep.get(layer_type, 0))
    facts = sensor.describe()
    idle_values = [entry["idle_power_w"] for entry in runs if entry.get("idle_power_w") is not None]
    document = {
        "device_id": out_dir.name,
        "machine": machine_facts(),
        "backend": backend.describe(),
        "power_sensor": {
            "selected": facts,
            "auto_detection": [dataclasses.asdict(d) for d in detections],
            "power_measured": sensor.name != "none",
            "idle_power_w": idle_values[-1] if idle_values else None,
        },
        "method": method,
        "sweep": {"seed": sweep_seed, "counts": sweep, "limits": sweep_limits},
        "runs": runs,
    }
    merge_device_file(out_dir, document)


def measured_layers_frame(layers: Iterable[Layer], layer_type: str, journal: Journal) -> pd.DataFrame:
    """Feature rows of measured layers with the seed's columns first (power µW, runtime ms)."""
    rows = []
    for layer in measurable(layers):
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


def measurable(layers: Iterable[Layer]) -> list[Layer]:
    """The layers that are run: free nodes (constants, shape arithmetic, reshapes) cost nothing."""
    return [layer for layer in layers if is_costed(layer)]


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
