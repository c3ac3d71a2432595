"""Profiles trained on real measured rows, shared by the predict and train tests (trained once per session)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from estimator.measure.backends.ort import OrtBackend
from estimator.measure.collector import CollectOptions, Collector, CollectPlan, ZooJob
from estimator.measure.sensors import LogFileSensor
from estimator.measure.timing import LoopPolicy
from estimator.train.profiles import train_profile
from tests.estimator_fixtures import SUBSET
from tests.fakes import SMALL, MeterLog
from tests.paths import TRAINING_DATA, ZOO

DATA = TRAINING_DATA / "cpu-epyc-1thread"  # isolated layers, in the seed's per-layer schema


@pytest.fixture(scope="session")
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


@pytest.fixture(scope="session")
def small_profile(small_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("profiles") / "small"
    train_profile(small_data, out, "small", test_models=["lenet"], params={"iterations": 40})
    return out


@pytest.fixture(scope="session")
def powered_profile(tmp_path_factory) -> Path:
    """A profile trained on a real (short) collection whose power came from a meter log reading 19-21 W."""

    root = tmp_path_factory.mktemp("powered")
    with MeterLog(root / "meter.csv", watts=20.0, swing=1.0) as log:
        plan = CollectPlan(zoo=(ZooJob("lenet", ZOO / "lenet.onnx", (1,)),),
                           sweep_counts=dict.fromkeys(("convolutional", "pooling", "dense", "other"), 6),
                           sweep_seed=5, sweep_limits=SMALL)
        loop = LoopPolicy(warmup_s=0.0, warmup_iterations=1, min_time_s=0.03, min_iterations=3)
        options = CollectOptions(policy=loop, model_policy=loop, idle_seconds=0.05)
        Collector(root / "meter-device", OrtBackend(), LogFileSensor(log), options).run(plan)
    train_profile(root / "meter-device", root / "profile", "meter", params={"iterations": 20})
    return root / "profile"
