"""Training chooses by the Unit object (estimator.train.units): every unit is registered once, and a new one trains,
loads and estimates through the generic path."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pandas as pd
import pytest

from estimator.errors import TrainingDataError
from estimator.predict.estimation import estimate
from estimator.predict.profiles import load_profile
from estimator.predict.units import KERNELS, LAYERS, UNITS
from estimator.train.data import load_training_data, rows_unit
from estimator.train.fitting import fit_layer_models
from estimator.train.profiles import train_profile
from estimator.train.units import KERNEL_TRAINING, LAYER_TRAINING, TRAINING, training_for
from graph.schema import SEED_COLUMNS
from tests.paths import ZOO


def test_every_unit_is_trained_by_its_own_registration():
    assert set(TRAINING) == set(UNITS)
    assert all(training_for(unit).unit is unit for unit in UNITS.values())
    assert training_for(KERNELS) is KERNEL_TRAINING and training_for(LAYERS) is LAYER_TRAINING


def test_rows_are_recognised_by_their_units_marker_column():
    assert rows_unit([*SEED_COLUMNS["convolutional"], "groups", "macs"]) is LAYERS
    assert rows_unit([*SEED_COLUMNS["convolutional"], "kernel_op", "layout"]) is KERNELS


def test_a_third_unit_trains_loads_and_estimates_through_the_generic_path(small_data, small_profile, tmp_path,
                                                                          monkeypatch):
    """A unit that is LAYERS under another name, recognised by a column of its own: one Unit and one UnitTraining,
    and its profile is the layer profile trained on the same rows."""
    ops = dataclasses.replace(LAYERS, name="ops", marker_column="op_marker")
    monkeypatch.setitem(UNITS, "ops", ops)
    monkeypatch.setitem(TRAINING, "ops", dataclasses.replace(LAYER_TRAINING, unit=ops, described_as="ops timed alone"))
    marked = tmp_path / "ops-data"
    shutil.copytree(small_data, marked)
    for path in marked.glob("*/*.csv"):
        pd.read_csv(path).assign(op_marker=1).to_csv(path, index=False)
    assert load_training_data(marked).unit is ops

    manifest = train_profile(marked, tmp_path / "ops", "ops", test_models=["lenet"], params={"iterations": 40})
    layers = json.loads((small_profile / "profile.json").read_text())
    assert manifest["unit"] == "ops" and manifest["description"].endswith("ops timed alone, no power sensor")
    for key in ("features", "categorical_features", "feature_ranges", "intervals", "composition", "validation"):
        assert manifest[key] == layers[key], key
    assert load_profile(tmp_path / "ops").unit is ops
    ours = estimate(ZOO / "resnet18.onnx", str(tmp_path / "ops"))
    theirs = estimate(ZOO / "resnet18.onnx", str(small_profile))
    assert ours.totals.runtime_ms == theirs.totals.runtime_ms > 0


def test_a_fit_of_another_unit_is_refused(small_data, tmp_path):
    """A transfer from a kernel profile cannot make a profile of layers: its models score other columns."""
    with pytest.raises(TrainingDataError, match="rows of layers, but the fit gave models of kernels"):
        train_profile(small_data, tmp_path / "p", "p",
                      fit=lambda frames: fit_layer_models(frames, {"iterations": 5}, KERNELS))
    assert not (tmp_path / "p" / "profile.json").exists()
