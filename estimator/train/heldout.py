"""Held-out splits and metrics: train without some models, predict their layers and totals (nothing leaks)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from estimator.predict.composition import Composition, composition_groups
from estimator.predict.models import LayerModels, predict_layer_frame
from estimator.train.accuracy import layer_metrics, share_within, whole_model_metrics
from estimator.train.composition import fit_composition, fit_power_scale, layer_sums
from estimator.train.data import TrainingData
from estimator.train.fitting import Fit, fit_layer_models

__all__ = [
    "SEED_TEST_MODELS",
    "HeldOut",
    "held_out_predictions",
    "split_by_model",
    "summarize_held_out",
]

SEED_TEST_MODELS = ("lenet", "resnet18", "vgg16")


@dataclass(frozen=True)
class HeldOut:
    """Per-layer and per-model predictions for models that training never saw."""

    layers: pd.DataFrame  # layer_type, model, batch_size, runtime_ms, predicted_runtime_ms, power_w, predicted_power_w
    models: pd.DataFrame  # model, batch_size, end_to_end_ms, predicted_ms, (energy_mj, predicted_energy_mj)


def held_out_predictions(data: TrainingData, test_models: list[str], params: dict | None = None,
                         fitted: LayerModels | None = None, fit: Fit | None = None) -> HeldOut:
    """Fit on everything but `test_models` (sweep rows always train) and predict those models.

    `fitted`: models already fitted on that split; `fit` replaces the fit from scratch (e.g. a transfer)."""
    train, test = split_by_model(data, test_models)
    models = fitted or (fit(train) if fit is not None else fit_layer_models(train, params, data.unit))
    composition = _composition(train, data, test_models)
    layer_parts = []
    for layer_type, frame in test.items():
        if frame.empty or layer_type not in models.runtime:
            continue
        predicted = predict_layer_frame(models, frame, layer_type)
        seen = _seen_in_training(frame, train[layer_type])
        layer_parts.append(pd.DataFrame({
            "layer_type": layer_type,
            "model": frame["model"].to_numpy(),
            "batch_size": frame["batch_size"].to_numpy(),
            "runtime_ms": frame["runtime_ms"].to_numpy(float),
            "predicted_runtime_ms": predicted["runtime_ms"].to_numpy(float),
            "in_graph_ms": composition.apply(predicted["runtime_ms"].to_numpy(float),
                                             composition_groups(frame, layer_type)),
            "power_w": frame["power_w"].to_numpy(float),
            "predicted_power_w": predicted["power_w"].to_numpy(float),
            "in_graph_power_w": predicted["power_w"].to_numpy(float) * composition.power_scale,
            "seen_in_training": seen,
        }))
    layers = pd.concat(layer_parts, ignore_index=True) if layer_parts else pd.DataFrame()
    return HeldOut(layers, _model_totals(layers, data, test_models))


def _seen_in_training(frame: pd.DataFrame, train: pd.DataFrame) -> np.ndarray:
    """Whether each held-out row's exact configuration was also measured for a training model."""
    if "config_id" not in frame.columns or "config_id" not in train.columns:
        return np.zeros(len(frame), dtype=bool)
    return frame["config_id"].isin(set(train["config_id"])).to_numpy()


def _composition(train: dict[str, pd.DataFrame], data: TrainingData, test_models: list[str]) -> Composition:
    if data.models is None:
        return Composition.from_dict(None)
    known = data.models[~data.models["model"].isin(test_models)]
    return fit_power_scale(train, known, fit_composition(layer_sums(train, known), data.call_overhead_ms))


def _model_totals(layers: pd.DataFrame, data: TrainingData, test_models: list[str]) -> pd.DataFrame:
    if data.models is None or layers.empty:
        return pd.DataFrame()
    layers = layers.assign(predicted_energy_mj=layers["in_graph_power_w"] * layers["in_graph_ms"])
    totals = layers.groupby(["model", "batch_size"], as_index=False).agg(
        predicted_ms=("in_graph_ms", "sum"), predicted_energy_mj=("predicted_energy_mj", "sum"),
        isolated_sum_ms=("predicted_runtime_ms", "sum"))
    truth = data.models[data.models["model"].isin(test_models)][["model", "batch_size", "runtime_ms", "energy_mj"]]
    merged = truth.merge(totals, on=["model", "batch_size"], how="inner")
    merged = merged.rename(columns={"runtime_ms": "end_to_end_ms"})
    merged["error_pct"] = (merged["predicted_ms"] / merged["end_to_end_ms"] - 1) * 100
    merged["energy_error_pct"] = (merged["predicted_energy_mj"] / merged["energy_mj"] - 1) * 100
    return merged


def summarize_held_out(result: HeldOut) -> dict[str, object]:
    """Per-layer metrics per type and target, and whole-model runtime and energy errors."""
    summary: dict[str, object] = {"layers": {}, "models": {}}
    for layer_type, part in result.layers.groupby("layer_type"):
        entry = {"runtime": layer_metrics(part["runtime_ms"], part["predicted_runtime_ms"])}
        powered = part["power_w"].notna() & part["predicted_power_w"].notna()
        if powered.any():
            entry["power"] = layer_metrics(part.loc[powered, "power_w"], part.loc[powered, "predicted_power_w"])
        ratio = np.log(part["runtime_ms"] / part["predicted_runtime_ms"])
        entry["runtime_log_ratio_q10_q90"] = [float(ratio.quantile(0.10)), float(ratio.quantile(0.90))]
        summary["layers"][layer_type] = entry
    models = result.models
    if not models.empty:
        summary["models"] = whole_model_metrics(models["error_pct"])
        energy = models["energy_error_pct"].dropna()
        if not energy.empty:
            summary["models"]["energy_mape"] = float(energy.abs().mean())
            summary["models"]["energy_within_10_pct"] = share_within(energy.abs())
    return summary


def split_by_model(data: TrainingData, test_models: Iterable[str]) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """Train/test frames split by model name; sweep rows are always training data."""
    test_models = set(test_models)
    train, test = {}, {}
    for layer_type, frame in data.frames.items():
        is_test = frame["model"].isin(test_models) & (frame["source"] == "zoo")
        train[layer_type] = frame[~is_test].reset_index(drop=True)
        test[layer_type] = frame[is_test].reset_index(drop=True)
    return train, test
