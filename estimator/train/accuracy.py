"""Accuracy of predictions against measurements, computed in one place for every evaluation: the share of
errors within a tolerance ("within ±10%"), MAPE, RMSPE, R², median and worst |error|."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

__all__ = ["TOLERANCE_PCT", "error_summary", "layer_metrics", "share_within", "whole_model_metrics"]

TOLERANCE_PCT = 10.0  # the "within ±10%" every evaluation quotes


def share_within(absolute_errors: Iterable[float], tolerance: float = TOLERANCE_PCT) -> float:
    """Share (%) of absolute errors at most `tolerance` (in their unit); a missing error counts as outside, and the
    share of no errors is NaN."""
    values = np.asarray(absolute_errors, dtype=float)
    return float(np.mean(values <= tolerance) * 100) if values.size else math.nan


def error_summary(errors: pd.Series) -> dict[str, float]:
    """n, share within ±10% (%), median and mean |error| (%), worst |error| (%)."""
    absolute = errors.abs()
    return {"n": int(absolute.size), "within_10_pct": share_within(absolute),
            "median_abs_pct": float(absolute.median()), "mean_abs_pct": float(absolute.mean()),
            "max_abs_pct": float(absolute.max())}


def whole_model_metrics(errors: pd.Series) -> dict[str, object]:
    """Whole-model runtime errors (%) of held-out model/batch pairs: count, MAPE, share within ±10%, worst |error|."""
    absolute = errors.abs()
    return {"pairs": len(absolute), "runtime_mape": float(absolute.mean()),
            "runtime_within_10_pct": share_within(absolute), "runtime_max_abs_error_pct": float(absolute.max())}


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
        "within_10": share_within(np.abs(relative), TOLERANCE_PCT / 100),
        "r2": r2,
    }
