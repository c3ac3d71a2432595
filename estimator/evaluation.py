"""Side-by-side evaluation of a profile's models against the baselines, split by model."""

from __future__ import annotations

import numpy as np
import pandas as pd

from estimator.baselines import MacsBaseline, NeuralPowerBaseline
from estimator.dataset import TrainingData
from estimator.training import layer_metrics, split_by_model
from estimator.validation import held_out_predictions

__all__ = ["METHODS", "evaluate_split", "layer_table", "model_table"]

METHODS = ("ours", "neuralpower", "macs")
SEED_TYPES = ("convolutional", "pooling", "dense")


def evaluate_split(data: TrainingData, test_models: list[str], params: dict | None = None,
                   neuralpower: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-layer and per-model predictions of every method for the held-out `test_models`."""
    ours = held_out_predictions(data, test_models, params)
    train, test = split_by_model(data, test_models)
    parts = []
    for layer_type, frame in test.items():
        if frame.empty:
            continue
        mine = ours.layers[ours.layers["layer_type"] == layer_type].reset_index(drop=True)
        part = mine.rename(columns={"predicted_runtime_ms": "ours", "predicted_power_w": "ours_power"})
        train_frame = train[layer_type]
        part["macs"] = MacsBaseline(layer_type).fit(train_frame, train_frame["runtime_ms"]).predict(frame)
        part["neuralpower"] = np.nan
        part["neuralpower_power"] = np.nan
        if neuralpower and layer_type in SEED_TYPES:
            baseline = NeuralPowerBaseline(layer_type, "runtime").fit(train_frame, train_frame["runtime_ms"].to_numpy())
            part["neuralpower"] = baseline.predict(frame)
            powered = train_frame["power_w"].notna()
            if powered.sum() >= 20:
                power = NeuralPowerBaseline(layer_type, "power").fit(train_frame[powered],
                                                                     train_frame.loc[powered, "power_w"].to_numpy())
                part["neuralpower_power"] = power.predict(frame)
        parts.append(part)
    layers = pd.concat(parts, ignore_index=True)
    sums = layers.groupby(["model", "batch_size"], as_index=False).agg(
        neuralpower_ms=("neuralpower", "sum"), macs_ms=("macs", "sum"), ours_isolated_ms=("ours", "sum"))
    models = ours.models.merge(sums, on=["model", "batch_size"], how="left")
    return layers, models


def layer_table(layers: pd.DataFrame, target: str = "runtime") -> pd.DataFrame:
    """Metrics per layer type and method (plus all seed types pooled)."""
    actual_column = "runtime_ms" if target == "runtime" else "power_w"
    suffix = "" if target == "runtime" else "_power"
    rows = []
    groups = [(t, layers[layers["layer_type"] == t]) for t in sorted(layers["layer_type"].unique())]
    groups.append(("conv+pool+dense", layers[layers["layer_type"].isin(SEED_TYPES)]))
    for name, part in groups:
        for method in METHODS:
            column = method + suffix
            if column not in part.columns:
                continue
            valid = part[actual_column].notna() & part[column].notna()
            if not valid.any():
                continue
            rows.append({"layer_type": name, "method": method,
                         **layer_metrics(part.loc[valid, actual_column], part.loc[valid, column])})
    return pd.DataFrame(rows)


def model_table(models: pd.DataFrame) -> pd.DataFrame:
    """Whole-model runtime errors (%) of each method's sum of layers against the measured end to end."""
    table = models[["model", "batch_size", "end_to_end_ms", "predicted_ms", "neuralpower_ms", "macs_ms"]].copy()
    for column, label in (("predicted_ms", "ours"), ("neuralpower_ms", "neuralpower"), ("macs_ms", "macs")):
        table[f"{label}_error_pct"] = (table[column] / table["end_to_end_ms"] - 1) * 100
    if "energy_mj" in models and models["energy_mj"].notna().any():
        table["energy_mj"] = models["energy_mj"]
        table["ours_energy_mj"] = models["predicted_energy_mj"]
        table["ours_energy_error_pct"] = models["energy_error_pct"]
    return table.sort_values(["model", "batch_size"], ignore_index=True)
