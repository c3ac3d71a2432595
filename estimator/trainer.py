"""Train and write a profile: held-out validation first, then the final fit on every row."""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from estimator.composition import fit_composition, layer_sums
from estimator.dataset import TrainingData, load_training_data
from estimator.features import CATEGORICAL, FEATURES
from estimator.profile import feature_ranges, save_profile
from estimator.training import CATBOOST_PARAMS, fit_layer_models
from estimator.validation import held_out_predictions, summarize_held_out

__all__ = ["package_versions", "train_profile"]


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in ("onnx-cost-estimator", "catboost", "onnx", "onnxruntime", "numpy", "pandas"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def train_profile(data_path: str | Path, out_dir: str | Path, profile_id: str, description: str | None = None,
                  test_models: list[str] | tuple[str, ...] = (), params: dict | None = None,
                  log: Callable[[str], None] = lambda text: None) -> dict:
    """Validate on `test_models`, fit on everything, and write the profile folder; returns the manifest."""
    data = load_training_data(data_path)
    rows = {t: len(f) for t, f in data.frames.items()}
    log(f"loaded {data.root}: {rows} rows, power {'measured' if data.has_power else 'not measured'}")
    present = [m for m in test_models if m in data.model_names()]
    holdout: dict[str, object] = {}
    if present:
        log(f"validating on held-out models {present} ...")
        holdout = summarize_held_out(held_out_predictions(data, present, params))
        holdout["test_models"] = present
    log("fitting the final models on all rows ...")
    models = fit_layer_models(data.frames, params)
    composition = (fit_composition(layer_sums(data.frames, data.models), data.call_overhead_ms)
                   if data.models is not None else None)
    manifest = {
        "profile_id": profile_id,
        "description": description or _describe(data, profile_id),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "measured": _measured(data),
        "units": {"runtime": "ms", "power": "W", "energy": "mJ", "training_csv_power": "µW"},
        "features": {t: list(FEATURES[t]) for t in models.runtime},
        "categorical_features": {t: list(CATEGORICAL[t]) for t in models.runtime},
        "targets": {"runtime": "log(runtime_ms)", "power": "power_w" if models.power else None},
        "training_data": {
            "path": _relative(data.root),
            "fingerprint_sha256_16": data.fingerprint,
            "rows": rows,
            "zoo_models": data.model_names(),
        },
        "catboost_params": {**CATBOOST_PARAMS, **(params or {})},
        "versions": package_versions(),
        "feature_ranges": feature_ranges(data.frames),
        "intervals": {
            t: {"runtime_log_ratio": entry["runtime_log_ratio_q10_q90"], "coverage": 0.8,
                "from": "held-out residuals log(measured / predicted), 10th and 90th percentiles"}
            for t, entry in holdout.get("layers", {}).items()
        },
        "composition": composition.to_dict() if composition else None,
        "models_skipped": models.skipped,
        "validation": {"holdout": holdout},
    }
    document = save_profile(models, Path(out_dir), manifest)
    log(f"wrote {out_dir}")
    return document


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


def _describe(data: TrainingData, profile_id: str) -> str:
    device = data.device or {}
    machine = device.get("machine", {}) or {}
    backend = device.get("backend", {}) or {}
    options = backend.get("session_options", {}) or {}
    parts = [machine.get("cpu_model") or profile_id]
    if options:
        parts.append(f"{backend.get('backend', '')} {options.get('intra_op_threads')} thread(s)")
    parts.append("power measured" if data.has_power else "no power sensor")
    return ", ".join(str(p) for p in parts if p)


def _relative(path: Path) -> str:
    try:
        return os.path.relpath(path.resolve(), Path(__file__).resolve().parents[1])
    except ValueError:
        return str(path)
