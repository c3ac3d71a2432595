"""Fit one CatBoost regressor per layer type and target (runtime on log ms; power in W)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from catboost import CatBoostRegressor, Pool
from scipy.optimize import nnls

from estimator.errors import TrainingDataError
from estimator.predict.models import LayerModels, baseline_group_values, baseline_log_ms
from estimator.predict.op_classes import ops_of_class
from estimator.predict.units import LAYERS, Unit
from graph.schema import LAYER_TYPES

__all__ = ["BASELINE_BY", "BASELINE_COLUMNS", "BASELINE_PRODUCTS_GROUPED", "BASELINE_SHARED", "BINARY_ELEMENTWISE",
           "CATBOOST_PARAMS", "KERNEL_PARAMS", "MIN_ROWS", "Fit", "catboost_params", "fit_baseline", "fit_layer_models"]

MIN_ROWS = 5
# Regressors on top of a linear baseline (a unit's relative_to_baseline: kernels) grow deeper trees.
KERNEL_PARAMS: dict[str, object] = {"iterations": 600, "depth": 7}
BASELINE_COLUMNS = ("macs", "input_elements", "output_elements", "weight_elements", "window_ops", "unfolded_elements",
                    "broadcast_spans", "strided_elements", "interpolated_elements")
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
# Layer types whose baseline also has its own coefficients per value of a categorical column (an op's own cost per
# element and per call: a Gelu costs seven times a Relu per element, a Reshape nothing); values with fewer than
# MIN_GROUP_ROWS measured rows keep the layer type's coefficients, and so do products (a value any row of which
# has MACs: MatMul, FusedMatMul, recurrent cells), whose extrapolation past the largest trained product
# (estimator.predict.models.CAPPED_BEYOND) is that of the shared work model: with a MatMul's own, attention over
# 1,024-4,096 tokens trained on up to 512 came out up to 16% fast, 14 of 20 graphs within 10% instead of 18.
# Convolutions, every one a product, have groups by kernel op and spatial rank (products_grouped): ONNX Runtime's NCHWc
# Conv and the FusedConv it runs in NCHW (grouped convolutions, channel counts the NCHWc blocks do not fit) are
# different code. With one set of coefficients, 634 rows of a new family moved the cost per unfolded element by 13%
# and the bottleneck family's grouped 3x3 convolutions, held out, came out 18% fast (leave-one-family-out 72% -> 59%;
# grouped: 70%). 3-D convolutions (20 rows, too few for a group) keep the layer type's coefficients; R(2+1)D's
# factorised ones came out -19% with the 2-D FusedConv ones and -14% with these, +6% before the grouping.
BASELINE_BY: dict[str, str | tuple[str, ...]] = {"other": "kernel_op", "convolutional": ("kernel_op", "spatial_rank")}
BASELINE_PRODUCTS_GROUPED = frozenset({"convolutional"})
# Values of the `by` column that share one group's coefficients: ONNX Runtime runs its binary elementwise ops
# (arithmetic, comparisons, Min/Max, logic) through one broadcasting loop (one call per contiguous run of the larger
# input), so a per-channel Add costs what a measured per-channel Mul does. Fitted apart, the Add group had one row
# with over 100 broadcast runs and took ~0.35 us a run from it (measured Muls: ~0.03 us), which put two ConvNeXtV2
# graphs 10-13% over; Greater's own group, fitted on rows of 3,234 elements, charged 1 ns an element where
# RetinaNet's 8-million-element Greater runs at 0.2.
BINARY_ELEMENTWISE = ops_of_class("binary elementwise")
BASELINE_SHARED: dict[str, dict[str, str]] = {"other": dict.fromkeys(BINARY_ELEMENTWISE, "binary elementwise")}
# The categorical feature whose values' coefficients a row takes when its own `by` value has no group (too few rows,
# or none: an op only a held-out family has): the kind of loop the op runs (estimator.predict.op_classes), fitted on
# every row of that class, not the layer type's coefficients over every op.
BASELINE_FALLBACK_BY: dict[str, str] = {"other": "op_class"}
MIN_GROUP_ROWS = 30
Fit = Callable[[dict[str, pd.DataFrame]], LayerModels]  # training frames -> fitted regressors (e.g. a transfer)


def fit_layer_models(frames: dict[str, pd.DataFrame], params: dict[str, object] | None = None,
                     unit: Unit = LAYERS) -> LayerModels:
    """Fit every (layer type, target) that has at least MIN_ROWS measured rows (rows of `unit`)."""
    params = catboost_params(unit, params)
    models = LayerModels(unit=unit)
    for layer_type in LAYER_TYPES:
        frame = frames.get(layer_type)
        if frame is not None:
            frame = frame[frame["runtime_ms"].notna()]
        if frame is None or len(frame) < MIN_ROWS:
            continue
        features = unit.featurize(frame, layer_type)
        runtime = frame["runtime_ms"].to_numpy(float)
        if np.ptp(runtime) == 0:  # e.g. a handful of tiny kernels at the profiler's 1 us resolution
            models.constant_runtime_ms[layer_type] = float(runtime[0])
            models.skipped[f"{layer_type}/runtime"] = f"every row measured {runtime[0]:.4f} ms: kept as a constant"
            continue
        target = np.log(runtime)
        offset = None
        if unit.relative_to_baseline:
            models.baselines[layer_type] = fit_baseline(features, runtime, BASELINE_BY.get(layer_type),
                                                        BASELINE_SHARED.get(layer_type),
                                                        layer_type in BASELINE_PRODUCTS_GROUPED,
                                                        BASELINE_FALLBACK_BY.get(layer_type))
            offset = baseline_log_ms(models.baselines[layer_type], features)
        models.runtime[layer_type] = _fit(features, target, unit.categorical[layer_type], params, offset)
        powered = frame["power_w"].notna().to_numpy()
        power = frame["power_w"].to_numpy(float)[powered]
        if powered.sum() < MIN_ROWS:
            continue
        if np.ptp(power) == 0:
            models.skipped[f"{layer_type}/power"] = f"every row reads {power[0]:.3f} W: the sensor cannot tell layers apart"
            continue
        models.power[layer_type] = _fit(features[powered], power, unit.categorical[layer_type], params)
    if not models.runtime and not models.constant_runtime_ms:
        raise TrainingDataError(f"no layer type has {MIN_ROWS} or more measured rows to train on")
    return models


def catboost_params(unit: Unit, params: dict[str, object] | None = None) -> dict[str, object]:
    """The CatBoost parameters a fit of rows of `unit` uses: the defaults, the kernel ones, then `params`."""
    return {**CATBOOST_PARAMS, **(KERNEL_PARAMS if unit.relative_to_baseline else {}), **(params or {})}


def _fit(features: pd.DataFrame, target: np.ndarray, categorical_columns, params,
         offset: np.ndarray | None = None) -> CatBoostRegressor:
    model = CatBoostRegressor(**params)
    model.fit(Pool(features, target, cat_features=list(categorical_columns), baseline=offset))
    return model


def fit_baseline(features: pd.DataFrame, runtime_ms: np.ndarray, by: str | tuple[str, ...] | None = None,
                 shared: dict[str, str] | None = None, products_grouped: bool = False,
                 fallback_by: str | None = None) -> dict[str, object]:
    """runtime ~ a . work columns + c, non-negative, least squares on relative error (one per layer type), and with
    `by` (a categorical feature, or several features) one such fit per value of it that has MIN_GROUP_ROWS rows or
    more and, unless `products_grouped`, no MACs ("groups"); `shared` maps values that are fitted as one group to that
    group's name (kept as "shared"). `fallback_by` (a categorical feature): one fit per value of it under the same
    conditions ("fallback_groups"), for the rows whose `by` value has no group."""
    columns = [c for c in BASELINE_COLUMNS if c in features.columns]
    design = np.column_stack([*(features[c].to_numpy(float) for c in columns), np.ones(len(features))])
    baseline: dict[str, object] = {"columns": columns, "coefficients": _nnls_relative(design, runtime_ms)}
    by_columns = [by] if isinstance(by, str) else list(by or ())
    if by_columns and set(by_columns) <= set(features.columns):
        values = baseline_group_values(features, by, shared)
        baseline["by"] = by if isinstance(by, str) else by_columns
        if shared:
            baseline["shared"] = dict(shared)
        products = np.zeros(len(values), bool)
        if not products_grouped and "macs" in features.columns:
            products = features["macs"].to_numpy(float) > 0
        baseline["groups"] = _group_fits(design, runtime_ms, values, products)
        if fallback_by in features.columns:
            baseline["fallback_by"] = fallback_by
            baseline["fallback_groups"] = _group_fits(design, runtime_ms, features[fallback_by].astype(str).to_numpy(),
                                                      products)
    return baseline


def _group_fits(design: np.ndarray, runtime_ms: np.ndarray, values: np.ndarray,
                products: np.ndarray) -> dict[str, list]:
    """One relative least-squares fit per value of `values` that has MIN_GROUP_ROWS rows or more and no row among
    `products` (rows whose baseline stays the shared one)."""
    excluded = set(values[products])
    return {str(value): _nnls_relative(design[values == value], runtime_ms[values == value])
            for value in sorted(set(values) - excluded) if (values == value).sum() >= MIN_GROUP_ROWS}


def _nnls_relative(design: np.ndarray, runtime_ms: np.ndarray) -> list[float]:
    weights = 1.0 / runtime_ms
    coefficients, _ = nnls(design * weights[:, None], runtime_ms * weights)
    return [float(c) for c in coefficients]
