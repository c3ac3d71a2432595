"""Build a profile: held-out validation first, then the final fit on every row, written as .cbm + profile.json."""

from __future__ import annotations

import json
import logging
import os
import platform
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from estimator.errors import TrainingDataError
from estimator.files import write_atomic
from estimator.predict.manifest import validate_manifest
from estimator.predict.models import BEYOND_BY, LayerModels
from estimator.predict.profiles import FORMAT_VERSION
from estimator.predict.units import LAYERS, Unit
from estimator.train.data import TrainingData, load_training_data
from estimator.train.fitting import Fit, catboost_params, fit_layer_models
from estimator.train.units import Validation, training_for

__all__ = ["feature_ranges", "measured_layer_kinds", "package_versions", "save_profile", "train_profile"]

logger = logging.getLogger(__name__)


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in ("onnx-cost-estimator", "catboost", "onnx", "onnxruntime", "numpy", "pandas"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def train_profile(data_path: str | Path | TrainingData, out_dir: str | Path, profile_id: str, description: str | None = None,
                  test_models: list[str] | tuple[str, ...] = (), params: dict | None = None,
                  fit: Fit | None = None, origin: dict[str, object] | None = None, base_manifest: dict | None = None,
                  validation: Validation | None = None) -> dict:
    """Validate as the data's unit is validated (estimator.train.units), fit on everything, and write the profile
    folder; returns the manifest. `data_path`: the training-data folder, or that folder already loaded.
    `test_models`: the held-out models of layer data.

    `fit` replaces the fit from scratch (estimate-calibrate's transfer from a base profile, whose manifest is
    `base_manifest` when the fit keeps the base's trees: the profile then also covers the layer kinds and feature
    ranges its base was trained on), and `origin` says where it came from. `validation`: that of this same fit on
    this data, already made (estimator.train.transfer.choose_transfer), not made again."""
    data = data_path if isinstance(data_path, TrainingData) else load_training_data(data_path)
    unit = data.unit
    training = training_for(unit)
    rows = {t: len(f) for t, f in data.frames.items()}
    logger.info("loaded %s: %s rows of %s, power %s", data.root, rows, unit.name,
                "measured" if data.has_power else "not measured")
    if validation is None:
        validation = training.validate(data, test_models, params, fit)
    logger.info("fitting the final models on all rows ...")
    models = fit(data.frames) if fit is not None else fit_layer_models(data.frames, params, unit)
    if models.unit is not unit:
        raise TrainingDataError(f"{data.root}: rows of {unit.name}, but the fit gave models of {models.unit.name} "
                                "(a transfer needs a base profile of the same unit)")
    composition = training.fit_composition(data, models)
    scored = {t: _scored_features(models, t) for t in models.runtime}
    manifest = {
        "profile_id": profile_id,
        "description": description or _describe(data, profile_id, training.described_as),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "measured": _measured(data),
        "units": {"runtime": "ms", "power": "W", "energy": "mJ", "training_csv_power": "µW"},
        "fingerprint": _fingerprint(data),
        "origin": origin or {"kind": "trained", "from": "scripts/train.py"},
        "unit": unit.name,
        "layer_kinds": _merged_kinds(measured_layer_kinds(data), base_manifest),
        "fusion_rules": (data.device or {}).get("fusion_rules") if training.keeps_fusion_rules else None,
        "features": scored,
        "categorical_features": {t: [c for c in unit.categorical[t] if c in scored[t]] for t in models.runtime},
        "targets": {"runtime": "log(runtime_ms)", "power": "power_w" if models.power else None},
        "training_data": {
            "path": _relative(data.root),
            "fingerprint_sha256_16": data.fingerprint,
            "rows": rows,
            "zoo_models": data.model_names(),
        },
        "catboost_params": catboost_params(unit, params),
        "versions": package_versions(),
        "feature_ranges": _merged_ranges(feature_ranges(data.frames, unit), base_manifest),
        "intervals": validation.intervals,
        "composition": composition.to_dict() if composition else None,
        "models_skipped": models.skipped,
        "constant_runtime_ms": models.constant_runtime_ms,
        "baselines": models.baselines or None,
        "validation": {"holdout": validation.holdout},
    }
    document = save_profile(models, Path(out_dir), manifest)
    logger.info("wrote %s", out_dir)
    return document


def _scored_features(models: LayerModels, layer_type: str) -> list[str]:
    """The features a runtime model scores: its unit's now, or those of its base profile when it continued its
    trees (a base trained before a feature was added to the unit)."""
    return list(models.runtime[layer_type].feature_names_ or models.unit.features[layer_type])


def measured_layer_kinds(data: TrainingData) -> list[str] | None:
    """The layer kinds (graph.records.layer_kind) the measured rows cover; None: the seed's four types."""
    kinds: set[str] = set()
    for frame in data.frames.values():
        if "layer_kind" in frame.columns:
            kinds.update(frame.loc[frame["runtime_ms"].notna(), "layer_kind"].dropna().astype(str))
    return sorted(kinds) or None


def _fingerprint(data: TrainingData) -> dict[str, object] | None:
    """The measuring machine's fingerprint (estimator.predict.fingerprint), as device.json records it."""
    device = data.device or {}
    if device.get("fingerprint"):
        return dict(device["fingerprint"])
    backend = device.get("backend") or {}
    if backend.get("gpu_name"):  # a GPU collection: the device is the GPU
        machine = device.get("machine") or {}
        return {"gpu_name": backend["gpu_name"], "driver": backend.get("driver_version"),
                "provider": f"PyTorch {backend.get('torch_version')} CUDA {backend.get('cuda_version')}",
                "host_cpu_model": machine.get("cpu_model"), "dtype": (backend.get("settings") or {}).get("dtype")}
    return None


def _measured(data: TrainingData) -> dict[str, object]:
    device = data.device or {}
    sensor = device.get("power_sensor", {})
    return {
        "machine": device.get("machine"),
        "backend": device.get("backend"),
        "power_sensor": sensor.get("selected"),
        "power_measured": data.has_power,
        "method": device.get("method"),
    }


def _describe(data: TrainingData, profile_id: str, described_as: str | None) -> str:
    """One line naming the device by what its device.json records, e.g. "AMD EPYC (family/model/stepping
    23/49/0, avx2), onnxruntime 1.32.0, 1 thread(s), kernels timed in context, no power sensor"."""
    device = data.device or {}
    machine = device.get("machine", {}) or {}
    fingerprint = device.get("fingerprint", {}) or {}
    backend = device.get("backend", {}) or {}
    options = backend.get("session_options", {}) or {}
    name = str(fingerprint.get("cpu_model") or machine.get("cpu_model") or profile_id)
    isa = [flag for flag in ("avx512f", "avx512_vnni", "amx_tile", "avx2") if flag in (fingerprint.get("isa") or [])]
    detail = ", ".join(str(part) for part in (
        f"family/model/stepping {fingerprint['cpu_family_model_stepping']}"
        if fingerprint.get("cpu_family_model_stepping") else "", isa[0] if isa else "") if part)
    parts = [f"{name} ({detail})" if detail else name]
    if options:
        version = backend.get("onnxruntime_version") or fingerprint.get("onnxruntime") or ""
        parts.append(f"{backend.get('backend', '')} {version}".strip())
        parts.append(f"{options.get('intra_op_threads')} thread(s)")
    if described_as:
        parts.append(described_as)
    parts.append("power measured" if data.has_power else "no power sensor")
    return ", ".join(str(p) for p in parts if p)


def _relative(path: Path) -> str:
    try:
        return os.path.relpath(path.resolve(), Path(__file__).resolve().parents[2])
    except ValueError:
        return str(path)


def _merged_kinds(kinds: list[str] | None, base_manifest: dict | None) -> list[str] | None:
    """This data's layer kinds and its base profile's."""
    inherited = (base_manifest or {}).get("layer_kinds") or []
    return sorted(set(kinds or []) | set(inherited)) or None


def _merged_ranges(ranges: dict[str, dict[str, object]], base_manifest: dict | None) -> dict[str, dict[str, object]]:
    """Per layer type, the union of this data's feature ranges and its base profile's."""
    merged = {layer_type: {key: dict(value) for key, value in entry.items()} for layer_type, entry in ranges.items()}
    for layer_type, entry in ((base_manifest or {}).get("feature_ranges") or {}).items():
        target = merged.setdefault(layer_type, {"numeric": {}, "categories": {}})
        for column, (low, high) in entry.get("numeric", {}).items():
            mine = target["numeric"].get(column)
            target["numeric"][column] = [min(low, mine[0]), max(high, mine[1])] if mine else [low, high]
        for column, values in entry.get("categories", {}).items():
            target["categories"][column] = sorted(set(target["categories"].get(column, [])) | set(values), key=str)
        if "largest_macs_by_class" not in entry:  # a base without them: its trees' largest per class is unknown
            target.pop("largest_macs_by_class", None)
        else:
            largest = target.setdefault("largest_macs_by_class", {})
            for name, macs in entry["largest_macs_by_class"].items():
                largest[name] = max(macs, largest.get(name, macs))
    return merged


def feature_ranges(frames: dict[str, pd.DataFrame], unit: Unit = LAYERS) -> dict[str, dict[str, object]]:
    """Per layer type: min/max of each numeric feature and the categories seen in training."""
    ranges: dict[str, dict[str, object]] = {}
    for layer_type, frame in frames.items():
        frame = frame[frame["runtime_ms"].notna()] if "runtime_ms" in frame.columns else frame
        if frame.empty:
            continue
        features = unit.featurize(frame, layer_type)
        kinds = unit.categorical[layer_type]
        numeric = {
            column: [float(features[column].min()), float(features[column].max())]
            for column in unit.features[layer_type]
            if column not in kinds
        }
        categories = {column: sorted(features[column].unique().tolist()) for column in kinds}
        ranges[layer_type] = {"numeric": numeric, "categories": categories}
        if BEYOND_BY in features.columns and "macs" in features.columns:  # each op class's largest product
            products = features[features["macs"] > 0]
            ranges[layer_type]["largest_macs_by_class"] = {
                str(name): float(macs) for name, macs in products.groupby(products[BEYOND_BY].astype(str))["macs"].max().items()}
    return ranges


def save_profile(models: LayerModels, out_dir: Path, manifest: dict) -> dict:
    """Write one .cbm per (layer type, target) and profile.json (last, atomically); returns the document."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, dict[str, str | None]] = {}
    for layer_type, model in models.runtime.items():
        files.setdefault(layer_type, {"runtime": None, "power": None})["runtime"] = f"{layer_type}_runtime.cbm"
        model.save_model(str(out_dir / f"{layer_type}_runtime.cbm"))
    for layer_type, model in models.power.items():
        files.setdefault(layer_type, {"runtime": None, "power": None})["power"] = f"{layer_type}_power.cbm"
        model.save_model(str(out_dir / f"{layer_type}_power.cbm"))
    document = {"format_version": FORMAT_VERSION, **manifest, "model_files": files}
    text = json.dumps(document, indent=2, default=_json_default) + "\n"
    validate_manifest(json.loads(text), out_dir / "profile.json", FORMAT_VERSION, closed=True)  # as it will be read
    write_atomic(out_dir / "profile.json", text)
    return document


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    raise TypeError(f"not JSON serialisable: {value!r}")
