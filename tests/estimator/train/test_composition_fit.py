"""Composition fitting: group scales by non-negative least squares on whole-model sums."""

from __future__ import annotations

import pandas as pd
import pytest

from estimator.predict.composition import GROUPS, PLAIN_SUM
from estimator.train.composition import fit_composition


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
