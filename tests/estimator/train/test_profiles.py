"""Training a profile from real measured rows: the written manifest, determinism, the seed's layout, bad data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from catboost import CatBoostRegressor

from estimator.errors import ProfileError, TrainingDataError
from estimator.predict.models import predict_layer_frame
from estimator.predict.profiles import load_profile
from estimator.train.data import load_training_data
from estimator.train.fitting import fit_layer_models
from estimator.train.profiles import save_profile, train_profile
from tests.estimator_fixtures import SUBSET


def test_trained_profile_round_trips(small_data, small_profile):
    manifest = json.loads((small_profile / "profile.json").read_text())
    assert manifest["profile_id"] == "small"
    assert manifest["training_data"]["fingerprint_sha256_16"] == load_training_data(small_data).fingerprint
    assert set(manifest["model_files"]) == {"convolutional", "pooling", "dense", "other"}
    assert all(files["power"] is None for files in manifest["model_files"].values())  # no power was measured
    assert "catboost" in manifest["versions"] and manifest["validation"]["holdout"]["test_models"] == ["lenet"]
    loaded = load_profile(small_profile)
    frame = load_training_data(small_data).frames["convolutional"]
    again = load_profile(small_profile)
    first = predict_layer_frame(loaded.models, frame, "convolutional")["runtime_ms"]
    second = predict_layer_frame(again.models, frame, "convolutional")["runtime_ms"]
    assert np.array_equal(first.to_numpy(), second.to_numpy())
    assert not loaded.has_power


def test_a_key_the_manifest_schema_lacks_is_not_written(small_profile, tmp_path):
    """profile.json's keys are declared once (estimator.predict.manifest.MANIFEST): training writes no other."""
    written = json.loads((small_profile / "profile.json").read_text())
    manifest = {key: value for key, value in written.items() if key not in ("format_version", "model_files")}
    with pytest.raises(ProfileError, match=r"profile\.surprise: expected no such key"):
        save_profile(load_profile(small_profile).models, tmp_path / "out", {**manifest, "surprise": 1})
    assert not (tmp_path / "out" / "profile.json").exists()
    save_profile(load_profile(small_profile).models, tmp_path / "out", manifest)
    assert json.loads((tmp_path / "out" / "profile.json").read_text()) == written


def test_training_is_deterministic(small_data, tmp_path):
    train_profile(small_data, tmp_path / "a", "a", params={"iterations": 20})
    train_profile(small_data, tmp_path / "b", "b", params={"iterations": 20})
    exported = []
    for name in ("a", "b"):
        model = CatBoostRegressor()
        model.load_model(str(tmp_path / name / "convolutional_runtime.cbm"))
        model.save_model(str(tmp_path / f"{name}.json"), format="json")
        document = json.loads((tmp_path / f"{name}.json").read_text())
        for stamp in ("model_guid", "train_finish_time"):  # CatBoost writes an id and a time into every file
            del document["model_info"][stamp]
        exported.append(document)
    assert exported[0] == exported[1]


def test_seed_layout_folder_trains_unchanged(small_data, tmp_path):
    """A folder with only the seed's columns (no extras, no models.csv) is read as is."""
    seed = tmp_path / "seed"
    for name in SUBSET:
        for layer_type in ("convolutional", "pooling", "dense"):
            frame = pd.read_csv(small_data / name / f"{layer_type}.csv")
            columns = list(frame.columns[: frame.columns.get_loc("layer_name") + 1])
            (seed / name).mkdir(parents=True, exist_ok=True)
            frame[columns].to_csv(seed / name / f"{layer_type}.csv", index=False)
    data = load_training_data(seed)
    assert data.models is None and not data.has_power
    manifest = train_profile(seed, tmp_path / "p", "seed", params={"iterations": 20})
    assert set(manifest["model_files"]) == {"convolutional", "pooling", "dense"}


def test_missing_seed_column_is_a_clear_error(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "dense.csv").write_text("batch_size,input_size,runtime,layer_name\n1,8,0.1,fc\n")
    with pytest.raises(TrainingDataError, match=r"dense\.csv: missing column\(s\) output_size, power"):
        load_training_data(tmp_path)


def test_constant_power_trains_no_power_model_and_says_why(small_data):
    frame = load_training_data(small_data).frames["dense"].assign(power_w=7.0)
    models = fit_layer_models({"dense": frame}, {"iterations": 10})
    assert "dense" in models.runtime and "dense" not in models.power
    assert models.skipped == {"dense/power": "every row reads 7.000 W: the sensor cannot tell layers apart"}
