"""The accuracy metrics every evaluation quotes, against values worked out by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from estimator.train.accuracy import error_summary, layer_metrics, share_within, whole_model_metrics


def test_share_within_counts_the_tolerance_itself_and_a_missing_error_as_outside():
    assert share_within([5.0, 10.0, 10.5, math.nan]) == 50.0
    assert share_within([0.5, 2.0], tolerance=1.0) == 50.0
    assert math.isnan(share_within([]))


def test_whole_model_metrics():
    assert whole_model_metrics(pd.Series([-5.0, 20.0, 8.0])) == {
        "pairs": 3, "runtime_mape": 11.0, "runtime_within_10_pct": pytest.approx(200 / 3),
        "runtime_max_abs_error_pct": 20.0}


def test_error_summary():
    assert error_summary(pd.Series([-5.0, 20.0, 8.0, -1.0])) == {
        "n": 4, "within_10_pct": 75.0, "median_abs_pct": 6.5, "mean_abs_pct": 8.5, "max_abs_pct": 20.0}


def test_layer_metrics():
    # relative errors +5%, 0%, -25%
    metrics = layer_metrics([1.0, 2.0, 4.0], [1.05, 2.0, 3.0])
    assert metrics["n"] == 3
    assert metrics["within_10"] == pytest.approx(200 / 3)
    assert metrics["mape"] == pytest.approx(10.0)
    assert metrics["rmspe"] == pytest.approx(math.sqrt((0.05**2 + 0.25**2) / 3) * 100)
    # R² = 1 - (0.05² + 1²) / sum((actual - 7/3)²)
    assert metrics["r2"] == pytest.approx(1 - (0.05**2 + 1.0) / ((4 / 3) ** 2 + (1 / 3) ** 2 + (5 / 3) ** 2))
