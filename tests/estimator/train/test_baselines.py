"""The baselines the profile is evaluated against."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from estimator.predict.units import LAYERS
from estimator.train.baselines import MacsBaseline, NeuralPowerBaseline
from estimator.train.data import load_training_data
from tests.paths import TRAINING_DATA

pytest.importorskip("sklearn")
DATA = TRAINING_DATA / "cpu-epyc-1thread"


def test_macs_baseline_recovers_a_linear_law():
    frame = pd.DataFrame({"batch_size": [1, 2, 4], "input_size": [64, 128, 256], "output_size": [32, 64, 128]})
    macs = LAYERS.featurize(frame, "dense")["macs"].to_numpy()
    runtime = 3e-6 * macs + 0.01  # a law worked out by hand: a = 3e-6 ms per MAC, b = 0.01 ms
    model = MacsBaseline("dense").fit(frame, runtime)
    assert model.coefficients_ == pytest.approx([3e-6, 0.01])
    assert model.predict(frame) == pytest.approx(runtime)


def test_neuralpower_baseline_fits_real_rows_on_the_seed_columns_only():
    conv = load_training_data(DATA).frames["convolutional"]
    conv = conv[conv["source"] == "zoo"]  # keeps the test fast; evaluate.py also trains on the sweep
    train = conv[conv["model"] != "resnet18"]
    test = conv[conv["model"] == "resnet18"]
    model = NeuralPowerBaseline("convolutional", "runtime").fit(train, train["runtime_ms"].to_numpy())
    predicted = model.predict(test)
    assert predicted.shape == (len(test),) and np.isfinite(predicted).all()
    assert model.model_[-1].positive  # the seed's configuration: non-negative Lasso coefficients


def test_neuralpower_baseline_must_be_fitted_first():
    with pytest.raises(RuntimeError, match="before fit"):
        NeuralPowerBaseline("dense", "runtime").predict(pd.DataFrame())
