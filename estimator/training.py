"""Train one CatBoost regressor per layer type and target, and validate it by model."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from catboost import CatBoostRegressor, Pool

from estimator.dataset import TrainingData
from estimator.errors import TrainingDataError
from estimator.features import CATEGORICAL, featurize
from graph.schema import LAYER_TYPES

__all__ = [
    "CATBOOST_PARAMS",
    "MIN_ROWS",
    "SEED_TEST_MODELS",
    "LayerModels",
    "fit_layer_models",
    "layer_metrics",
    "predict_features",
    "predict_layer_frame",
    "split_by_model",
]

SEED_TEST_MODELS = ("lenet", "resnet18", "vgg16")
MIN_ROWS = 5
CATBOOST_PARAMS: dict[str, object] = {
    "iterations": 600,
    "depth": 6,
    "learning_rate": 0.08,
    "loss_function": "RMSE",
    "random_seed": 0,
    "thread_count": 2,
    "allow_writing_files": False,
    "verbose": False,
}


@dataclass
class LayerModels:
    """Fitted regressors: runtime (on log ms) and, where measured, power (W) per layer type."""

    runtime: dict[str, CatBoostRegressor] = field(default_factory=dict)
    power: dict[str, CatBoostRegressor] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # "<type>/<target>" -> why no model was fitted


def fit_layer_models(frames: dict[str, pd.DataFrame], params: dict[str, object] | None = None) -> LayerModels:
    """Fit every (layer type, target) that has at least MIN_ROWS measured rows."""
    params = {**CATBOOST_PARAMS, **(params or {})}
    models = LayerModels()
    for layer_type in LAYER_TYPES:
        frame = frames.get(layer_type)
        if frame is None or len(frame) < MIN_ROWS:
            continue
        features = featurize(frame, layer_type)
        models.runtime[layer_type] = _fit(features, np.log(frame["runtime_ms"].to_numpy(float)), layer_type, params)
        powered = frame["power_w"].notna().to_numpy()
        power = frame["power_w"].to_numpy(float)[powered]
        if powered.sum() < MIN_ROWS:
            continue
        if np.ptp(power) == 0:
            models.skipped[f"{layer_type}/power"] = f"every row reads {power[0]:.3f} W: the sensor cannot tell layers apart"
            continue
        models.power[layer_type] = _fit(features[powered], power, layer_type, params)
    if not models.runtime:
        raise TrainingDataError(f"no layer type has {MIN_ROWS} or more measured rows to train on")
    return models


def _fit(features: pd.DataFrame, target: np.ndarray, layer_type: str, params) -> CatBoostRegressor:
    model = CatBoostRegressor(**params)
    model.fit(Pool(features, target, cat_features=list(CATEGORICAL[layer_type])))
    return model


def predict_layer_frame(models: LayerModels, frame: pd.DataFrame, layer_type: str) -> pd.DataFrame:
    """runtime_ms and power_w (NaN where no power model) predicted for each row of `frame`."""
    return predict_features(models, featurize(frame, layer_type), layer_type)


def predict_features(models: LayerModels, features: pd.DataFrame, layer_type: str) -> pd.DataFrame:
    """predict_layer_frame for an already featurised frame (featurize's output)."""
    out = pd.DataFrame(index=features.index)
    if features.empty or layer_type not in models.runtime:
        out["runtime_ms"] = np.nan
        out["power_w"] = np.nan
        return out
    pool = Pool(features, cat_features=list(CATEGORICAL[layer_type]))
    out["runtime_ms"] = np.exp(models.runtime[layer_type].predict(pool))
    power_model = models.power.get(layer_type)
    out["power_w"] = power_model.predict(pool) if power_model is not None else np.nan
    return out


def layer_metrics(actual: Iterable[float], predicted: Iterable[float]) -> dict[str, float]:
    """RMSPE, MAPE (both %), share within ±10% and R² of per-layer predictions."""
    actual = np.asarray(list(actual), dtype=float)
    predicted = np.asarray(list(predicted), dtype=float)
    if actual.size == 0:
        return {"n": 0, "rmspe": math.nan, "mape": math.nan, "within_10": math.nan, "r2": math.nan}
    relative = (predicted - actual) / actual
    total = float(((actual - actual.mean()) ** 2).sum())
    r2 = 1 - float(((predicted - actual) ** 2).sum()) / total if total > 0 else math.nan
    return {
        "n": int(actual.size),
        "rmspe": float(np.sqrt(np.mean(relative**2)) * 100),
        "mape": float(np.mean(np.abs(relative)) * 100),
        "within_10": float(np.mean(np.abs(relative) <= 0.10) * 100),
        "r2": r2,
    }


def split_by_model(data: TrainingData, test_models: Iterable[str]) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """Train/test frames split by model name; sweep rows are always training data."""
    test_models = set(test_models)
    train, test = {}, {}
    for layer_type, frame in data.frames.items():
        is_test = frame["model"].isin(test_models) & (frame["source"] == "zoo")
        train[layer_type] = frame[~is_test].reset_index(drop=True)
        test[layer_type] = frame[is_test].reset_index(drop=True)
    return train, test
