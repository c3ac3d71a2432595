"""Composition fitting: group scales by non-negative least squares on whole-model sums; the small-graph exponent."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from estimator.predict.composition import GROUPS, PLAIN_SUM, KernelComposition
from estimator.train.composition import MIN_SMALL_GRAPHS, fit_composition, fit_small_graph_exponent


def _sums(rows):
    frame = pd.DataFrame(rows)
    for group in GROUPS:
        if group not in frame:
            frame[group] = 0.0
    return frame


def test_scales_are_recovered_from_whole_model_sums():
    # Worked by hand: whole = 0.5 * conv + 1.0 * other - 0.01 ms per layer.
    rows = [
        {"model": "a", "batch_size": 1, "convolutional": 10.0, "other": 2.0, "layers": 4},
        {"model": "b", "batch_size": 1, "convolutional": 40.0, "other": 1.0, "layers": 10},
        {"model": "c", "batch_size": 1, "convolutional": 4.0, "other": 6.0, "layers": 2},
    ]
    sums = _sums(rows)
    sums["end_to_end_ms"] = 0.5 * sums["convolutional"] + sums["other"] - 0.01 * sums["layers"]
    composition = fit_composition(sums, per_layer_overhead_ms=0.01)
    assert composition.runtime_scale["convolutional"] == pytest.approx(0.5)
    assert composition.runtime_scale["other"] == pytest.approx(1.0)
    assert composition.runtime_scale["pooling"] == 1.0  # no signal: kept at 1
    fitted = fit_composition(sums)  # the overhead fitted too
    assert fitted.per_layer_overhead_ms == pytest.approx(0.01)


def test_too_few_models_give_the_plain_sum():
    sums = _sums([{"model": "a", "batch_size": 1, "convolutional": 1.0, "layers": 1, "end_to_end_ms": 1.0}])
    assert fit_composition(sums) == PLAIN_SUM


def test_the_small_graph_exponent_is_recovered_and_touches_no_graph_of_a_millisecond_or_more():
    # Worked by hand: graphs under 1 ms run at (predicted / 1 ms) ** (0.13 / ln 10) x predicted; larger ones as predicted.
    predicted = np.geomspace(0.02, 20.0, 60)
    measured = predicted * np.exp(0.13 * np.minimum(0.0, np.log10(predicted)))
    exponent = fit_small_graph_exponent(predicted, measured)
    assert exponent == pytest.approx(0.13)
    composition = KernelComposition(0.0, 0.0, "", exponent)
    scaled = np.array([composition.graph_scale(ms) for ms in predicted]) * predicted
    np.testing.assert_allclose(scaled, measured)
    assert composition.graph_scale(1.0) == composition.graph_scale(50.0) == 1.0
    assert KernelComposition.from_dict(composition.to_dict()) == composition
    assert KernelComposition.from_dict({"run_overhead_ms": 0.1, "profiler_overhead_ms": 0.0}).graph_scale(0.1) == 1.0


def test_small_graphs_running_slower_or_too_few_of_them_fit_no_exponent():
    predicted = np.geomspace(0.02, 20.0, 60)
    assert fit_small_graph_exponent(predicted, predicted * 1.2) == 0.0  # slower than predicted: never scaled up
    few = np.array([0.5] * (MIN_SMALL_GRAPHS - 1) + [5.0] * 40)
    assert fit_small_graph_exponent(few, few * 0.5) == 0.0
