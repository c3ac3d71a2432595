"""Training a profile from real measured rows, loading it back, and estimating tiny models."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from catboost import CatBoostRegressor

from estimator import estimate, list_profiles, load_profile
from estimator.errors import ProfileError, TrainingDataError
from estimator.measure.backends.ort import OrtBackend
from estimator.measure.collector import CollectOptions, Collector, CollectPlan, ZooJob
from estimator.measure.sensors import LogFileSensor
from estimator.measure.timing import LoopPolicy
from estimator.predict.models import predict_layer_frame
from estimator.predict.profiles import DEFAULT_PROFILE
from estimator.train.data import load_training_data
from estimator.train.profiles import train_profile
from tests.estimator_fixtures import huge_conv, small_cnn
from tests.test_collect import SMALL, MeterLog

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "training_data" / DEFAULT_PROFILE
SUBSET = ("lenet", "resnet18", "mobilenet_v3_small")


@pytest.fixture(scope="module")
def small_data(tmp_path_factory) -> Path:
    """A few models' real measured rows, copied into a temporary training folder."""
    folder = tmp_path_factory.mktemp("data") / "cpu-subset"
    folder.mkdir()
    for name in SUBSET:
        shutil.copytree(DATA / name, folder / name)
    models = pd.read_csv(DATA / "models.csv")
    models[models["model"].isin(SUBSET)].to_csv(folder / "models.csv", index=False)
    shutil.copy(DATA / "device.json", folder / "device.json")
    return folder


@pytest.fixture(scope="module")
def small_profile(small_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("profiles") / "small"
    train_profile(small_data, out, "small", test_models=["lenet"], params={"iterations": 40})
    return out


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


def test_totals_are_the_sum_of_the_layers():
    report = estimate(small_cnn())
    assert report.totals.runtime_ms == pytest.approx(report.layers["runtime_ms"].sum())
    assert report.layers["runtime_share"].sum() == pytest.approx(1.0)
    assert list(report.layers["name"]) == ["conv1", "relu1", "pool1", "gap", "fc"]
    assert list(report.layers["layer_type"]) == ["convolutional", "other", "pooling", "pooling", "dense"]
    assert (report.layers["runtime_ms"] > 0).all()
    assert report.totals.nodes_total == 6 and report.totals.nodes_modeled == 5 and report.totals.nodes_free == 1


def test_cpu_profile_reports_power_as_not_measured():
    report = estimate(small_cnn())
    assert not report.power_measured
    assert report.totals.power_w is None and report.totals.energy_mj is None
    assert report.layers["power_w"].isna().all()


def test_assumed_batch_is_reported_and_batch_size_scales_runtime():
    one = estimate(small_cnn())
    eight = estimate(small_cnn(), batch_size=8)
    assert one.totals.batch_size == 1 and one.totals.batch_size_assumed
    assert eight.totals.batch_size == 8 and not eight.totals.batch_size_assumed
    assert eight.totals.runtime_ms > one.totals.runtime_ms


def test_unmodeled_nodes_are_counted_and_listed():
    report = estimate(small_cnn(with_transpose_conv=True))
    assert report.totals.nodes_unmodeled == 1
    assert report.totals.unmodeled_by_op == {"ConvTranspose": 1}
    assert report.unmodeled[0].name == "upsample"


def test_out_of_distribution_layer_is_flagged():
    report = estimate(huge_conv())
    assert report.layers["out_of_distribution"].tolist() == [True]
    assert report.totals.layers_out_of_distribution == 1
    assert not estimate(small_cnn()).layers["out_of_distribution"].iloc[0]


def test_estimate_accepts_path_bytes_and_proto(tmp_path):
    model = small_cnn()
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    runtimes = {estimate(source).totals.runtime_ms for source in (path, model.SerializeToString(), model)}
    assert len(runtimes) == 1


def test_profiles_are_listed_and_chosen_by_id_or_path(small_profile):
    assert DEFAULT_PROFILE in [info.id for info in list_profiles()]
    by_path = estimate(small_cnn(), profile=str(small_profile))
    assert by_path.profile_id == "small"


def test_unknown_profile_is_a_profile_error():
    with pytest.raises(ProfileError, match=r"unknown profile 'nope'.*--list-profiles"):
        load_profile("nope")


def test_profile_with_a_missing_model_file_is_a_profile_error(small_profile, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(small_profile, broken)
    (broken / "dense_runtime.cbm").unlink()
    with pytest.raises(ProfileError, match=r"dense_runtime\.cbm is missing"):
        load_profile(broken)


@pytest.fixture(scope="module")
def powered_profile(tmp_path_factory) -> Path:
    """A profile trained on a real (short) collection whose power came from a meter log reading 19-21 W."""

    root = tmp_path_factory.mktemp("powered")
    with MeterLog(root / "meter.csv", watts=20.0, swing=1.0) as log:
        plan = CollectPlan(zoo=(ZooJob("lenet", ROOT / "training_data" / "zoo" / "lenet.onnx", (1,)),),
                           sweep_counts=dict.fromkeys(("convolutional", "pooling", "dense", "other"), 6),
                           sweep_seed=5, sweep_limits=SMALL)
        loop = LoopPolicy(warmup_s=0.0, warmup_iterations=1, min_time_s=0.03, min_iterations=3)
        options = CollectOptions(policy=loop, model_policy=loop, idle_seconds=0.05)
        Collector(root / "meter-device", OrtBackend(), LogFileSensor(log), options).run(plan)
    train_profile(root / "meter-device", root / "profile", "meter", params={"iterations": 20})
    return root / "profile"


def test_profile_with_power_reports_power_and_energy(powered_profile):
    report = estimate(small_cnn(), profile=str(powered_profile))
    assert report.power_measured
    assert report.layers["power_w"].to_numpy() == pytest.approx(20.0, abs=1.0)
    assert report.totals.power_w == pytest.approx(20.0, abs=1.0)
    assert report.totals.energy_mj == pytest.approx((report.layers["power_w"] * report.layers["runtime_ms"]).sum())
    assert report.totals.energy_mj == pytest.approx(report.totals.power_w * report.totals.runtime_ms)
    assert "not measured" not in report.to_table()


def test_constant_power_trains_no_power_model_and_says_why(small_data):
    from estimator.train.fitting import fit_layer_models

    frame = load_training_data(small_data).frames["dense"].assign(power_w=7.0)
    models = fit_layer_models({"dense": frame}, {"iterations": 10})
    assert "dense" in models.runtime and "dense" not in models.power
    assert models.skipped == {"dense/power": "every row reads 7.000 W: the sensor cannot tell layers apart"}
