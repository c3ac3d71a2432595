"""Composition applied: in-graph runtimes from isolated ones, per composition group."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from estimator.predict.composition import MIN_FRACTION, Composition, composition_groups


def test_apply_subtracts_the_overhead_but_keeps_a_floor():
    composition = Composition({"convolutional": 0.5}, per_layer_overhead_ms=0.1, summary="")
    in_graph = composition.apply(np.array([1.0, 0.1]), np.array(["convolutional", "convolutional"]))
    assert in_graph == pytest.approx([0.4, MIN_FRACTION * 0.1])


def test_groups_split_grouped_convs_and_ops_fed_by_linear_layers():
    conv = pd.DataFrame({"groups": [1, 32]})
    assert composition_groups(conv, "convolutional").tolist() == ["convolutional", "convolutional_grouped"]
    other = pd.DataFrame({"producer_op": ["Conv", "Add", ""]})
    assert composition_groups(other, "other").tolist() == ["other_after_linear", "other", "other"]
    assert composition_groups(pd.DataFrame({"x": [1]}), "pooling").tolist() == ["pooling"]
