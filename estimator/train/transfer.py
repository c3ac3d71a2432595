"""Transfer from a base profile: fit a few minutes of this machine's measurements on top of another machine's models.

Three ways, compared in estimate-calibrate's evaluation by accuracy per minute of measuring:
- "continue": CatBoost boosting continues from the base profile's trees (init_model), so the
  new trees learn this machine's corrections; the saved model stands alone;
- "scratch": fit on this machine's rows only;
- "scale": the base models times one fitted factor per layer type.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from catboost import CatBoostRegressor, Pool

from estimator.predict.models import LayerModels, baseline_log_ms, predict_layer_frame, scored_columns
from estimator.train.fitting import CATBOOST_PARAMS, MIN_ROWS, fit_layer_models
from graph.schema import LAYER_TYPES

__all__ = ["STRATEGIES", "TRANSFER_PARAMS", "fit_transfer"]

STRATEGIES = ("continue", "scratch", "scale")
# Continued boosting: fewer, smaller steps than a fit from scratch, so a few hundred rows correct the base
# without forgetting what it learned from many thousands.
TRANSFER_PARAMS: dict[str, object] = {"iterations": 300, "learning_rate": 0.05}


def fit_transfer(frames: dict[str, pd.DataFrame], base: LayerModels, strategy: str = "continue",
                 params: dict[str, object] | None = None) -> LayerModels:
    """Models for this machine from its rows (`frames`) and a base profile's models, of the base's unit (kernels)."""
    if strategy == "scratch" or not base.runtime:
        return fit_layer_models(frames, params, base.unit)
    settings = {**CATBOOST_PARAMS, **TRANSFER_PARAMS, **(params or {})}
    models = LayerModels(unit=base.unit)
    for layer_type in LAYER_TYPES:
        frame = frames.get(layer_type)
        base_model = base.runtime.get(layer_type)
        measured = frame[frame["runtime_ms"].notna()] if frame is not None else None
        if base_model is None:
            continue
        if layer_type in base.baselines:
            models.baselines[layer_type] = base.baselines[layer_type]
        if measured is None or len(measured) < MIN_ROWS:
            models.runtime[layer_type] = base_model  # nothing measured here to correct it with
            continue
        if strategy == "scale":
            ratio = np.log(measured["runtime_ms"].to_numpy(float)) - np.log(
                predict_layer_frame(base, measured, layer_type)["runtime_ms"].to_numpy(float))
            models.runtime[layer_type] = _shifted(base_model, float(np.median(ratio)))
            continue
        features = scored_columns(base_model, base.unit.featurize(measured, layer_type))  # the base's own columns
        target = np.log(measured["runtime_ms"].to_numpy(float))
        if layer_type in base.baselines:  # continued trees learn what the base trees learnt: log runtime - baseline
            target = target - baseline_log_ms(base.baselines[layer_type], features)
        model = CatBoostRegressor(**settings)
        categorical = [c for c in base.unit.categorical[layer_type] if c in features.columns]
        model.fit(Pool(features, target, cat_features=categorical), init_model=base_model)
        models.runtime[layer_type] = model

    return models


def _shifted(model: CatBoostRegressor, log_shift: float) -> CatBoostRegressor:
    """A copy of `model` whose predictions (log ms) are `log_shift` higher: the base x exp(log_shift)."""
    shifted = model.copy()
    scale, bias = shifted.get_scale_and_bias()
    shifted.set_scale_and_bias(scale, bias + log_shift)
    return shifted
