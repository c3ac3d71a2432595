"""A profile's fitted regressors and how they score a featurised layer frame."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from catboost.core import CatBoostRegressor, Pool

from estimator.predict.op_classes import PARENT_CLASSES
from estimator.predict.units import LAYERS, Unit

__all__ = ["BASELINE_FLOOR_MS", "BEYOND_BY", "CAPPED_BEYOND", "LayerModels", "baseline_group_values",
           "baseline_log_ms", "predict_features", "predict_layer_frame", "scored_columns"]

BASELINE_FLOOR_MS = 1e-4  # a linear baseline never predicts below 0.1 us
CAPPED_BEYOND = frozenset({"other"})  # layer types whose residual is capped past the largest trained kernel
# The column whose values each have their own largest trained MACs (a profile's feature_ranges "largest_macs_by_class"):
# a MatMul is past the largest trained kernel when it has more MACs than every trained MatMul, not than every trained
# `other` kernel (a 60 s calibration's attention MatMuls reached 4.2 M MACs and its LSTM cells 75 M; DeiT's 7.5 M
# MatMuls, not capped, came out 2.3x slow and DeBERTa's 25 M ones 3x).
BEYOND_BY = "op_class"


@dataclass
class LayerModels:
    """Fitted regressors: runtime (on log ms) and, where measured, power (W) per layer type."""

    runtime: dict[str, CatBoostRegressor] = field(default_factory=dict)
    power: dict[str, CatBoostRegressor] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # "<type>/<target>" -> why no model was fitted
    constant_runtime_ms: dict[str, float] = field(default_factory=dict)  # types whose every measured runtime is equal
    # Kernel profiles: per layer type, a linear model of runtime (ms) in its work columns; the regressor
    # predicts log(runtime) relative to it (see estimator.train.fitting), which extrapolates in size far better.
    baselines: dict[str, dict[str, list]] = field(default_factory=dict)
    unit: Unit = LAYERS  # what the models score: isolated layers, or kernels timed in context


def predict_layer_frame(models: LayerModels, frame: pd.DataFrame, layer_type: str) -> pd.DataFrame:
    """runtime_ms and power_w (NaN where no power model) predicted for each row of `frame`."""
    return predict_features(models, models.unit.featurize(frame, layer_type), layer_type)


def predict_features(models: LayerModels, features: pd.DataFrame, layer_type: str,
                     beyond: np.ndarray | None = None) -> pd.DataFrame:
    """predict_layer_frame for an already featurised frame (featurize's output).

    `beyond`: rows of more work (MACs) than any the models were trained on. There, for the layer types in
    CAPPED_BEYOND (the `other` kernels: MatMuls of activations, softmax, elementwise ops), a kernel profile's
    regressor may only make the kernel faster than its linear baseline, never slower: what makes their small kernels
    slower than the work model (fixed costs per call, short loops) shrinks as the work grows, while the residual the
    trees learned at the largest measured size stays constant past it (attention MatMuls over 1,500 tokens came out
    4.2x slow). Convolution and dense kernels keep their residual: theirs is the work model's slope, which holds
    (capped, VGG-11's convolutions at batch 16 held out came out 42% fast).
    """
    out = pd.DataFrame(index=features.index)
    if layer_type in models.constant_runtime_ms and not features.empty:
        out["runtime_ms"] = models.constant_runtime_ms[layer_type]
        out["power_w"] = np.nan
        return out
    if features.empty or layer_type not in models.runtime:
        out["runtime_ms"] = np.nan
        out["power_w"] = np.nan
        return out
    model = models.runtime[layer_type]
    scored = scored_columns(model, features)
    pool = Pool(scored, cat_features=[c for c in models.unit.categorical[layer_type] if c in scored.columns])
    log_runtime = model.predict(pool)
    if layer_type in models.baselines:
        if beyond is not None and layer_type in CAPPED_BEYOND:
            log_runtime = np.where(beyond, np.minimum(log_runtime, 0.0), log_runtime)
        log_runtime = log_runtime + baseline_log_ms(models.baselines[layer_type], features)
    out["runtime_ms"] = np.exp(log_runtime)
    power_model = models.power.get(layer_type)
    out["power_w"] = power_model.predict(pool) if power_model is not None else np.nan
    return out


def scored_columns(model: CatBoostRegressor, features: pd.DataFrame) -> pd.DataFrame:
    """The columns of `features` that `model` was fitted on, in its order: a profile trained before a feature was
    added to its unit keeps scoring the features it was trained on."""
    names = list(model.feature_names_ or [])
    return features[names] if names else features


def baseline_group_values(features: pd.DataFrame, by: str | Sequence[str],
                          shared: dict[str, str] | None = None) -> np.ndarray:
    """Each row's baseline group: its value of the baseline's "by" column (several columns: their values joined by
    '|', a whole number written without a fraction), or the group that value shares."""
    columns = [by] if isinstance(by, str) else list(by)
    values = _group_text(features[columns[0]])
    for column in columns[1:]:
        values = values + "|" + _group_text(features[column])
    return (values.replace(shared) if shared else values).to_numpy()


def _group_text(column: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(column):
        return column.map(lambda value: f"{value:g}")
    return column.astype(str)


def baseline_log_ms(baseline: dict[str, object], features: pd.DataFrame) -> np.ndarray:
    """log of a linear baseline's runtime (ms): coefficients . [columns..., 1] (a row's group's coefficients when the
    baseline has "groups" by the value of its "by" column or columns, values it "shared" taking their group's; a row
    of a value without a group, its "fallback_groups" coefficients by its "fallback_by" value where there are such),
    floored at BASELINE_FLOOR_MS."""
    design = np.column_stack([*(features[c].to_numpy(float) for c in baseline["columns"]), np.ones(len(features))])
    runtime_ms = design @ np.asarray(baseline["coefficients"], dtype=float)
    groups = baseline.get("groups") or {}
    if groups:  # rows of a value with its own coefficients (e.g. one kernel op) take those
        values = baseline_group_values(features, baseline["by"], baseline.get("shared"))
        fallback = baseline.get("fallback_groups") or {}
        if fallback:  # rows of a value without, those of their value of the fallback column (e.g. the op's class)
            classes = features[baseline["fallback_by"]].astype(str)
            # a class this baseline has no fit for (split from another after it was fitted) takes its parent's
            classes = classes.where(classes.isin(list(fallback)), classes.map(PARENT_CLASSES).fillna(classes)).to_numpy()
            without_group = ~np.isin(values, list(groups))
            for value, coefficients in fallback.items():
                rows = (classes == value) & without_group
                runtime_ms[rows] = design[rows] @ np.asarray(coefficients, dtype=float)
        for value, coefficients in groups.items():
            rows = values == value
            runtime_ms[rows] = design[rows] @ np.asarray(coefficients, dtype=float)
    return np.log(np.maximum(runtime_ms, BASELINE_FLOOR_MS))
