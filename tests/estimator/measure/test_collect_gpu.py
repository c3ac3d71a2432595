"""The budgeted GPU collection (estimator.measure.gpu_collection) run end to end on the CPU with tiny
budgets: the archive holds the usual training_data/<device-id>/ layout; a rerun resumes; a fake NVML
energy counter gives aligned power; a budget too small for the zoo skips the sweep and still packs what
it has."""

from __future__ import annotations

import io
import json
import logging
import tarfile
import time
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("torch")

from estimator.errors import EstimatorError
from estimator.measure import gpu_collection
from estimator.measure.gpu_collection import GpuRunOptions, collect_gpu_data
from estimator.measure.sensors import NvmlSensor, SensorDetection
from tests.fakes import ClockNvml
from tests.paths import ZOO

LENET = ZOO / "lenet.onnx"
pytestmark = pytest.mark.skipif(not LENET.exists(), reason="zoo not exported")
SMALL_SWEEP = {"convolutional": 4, "pooling": 2, "dense": 2, "other": 4}


def _options(tmp_path: Path, device_id: str, **settings) -> GpuRunOptions:
    settings = {"device": "cpu", "models": ("lenet",), "batch_sizes": (1,), "threads": 1, **settings}
    return GpuRunOptions(data_dir=tmp_path / "data", zoo_dir=ZOO, out=tmp_path / "out", device_id=device_id, **settings)


def _read(archive: Path, member: str) -> bytes:
    with tarfile.open(archive) as tar:
        return tar.extractfile(member).read()


def _csv(archive: Path, member: str) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(_read(archive, member)))


@pytest.fixture(autouse=True)
def _log_info(caplog):
    caplog.set_level(logging.INFO, logger="estimator")


def test_cpu_run_packs_the_training_data_layout(tmp_path: Path, caplog) -> None:
    started = time.monotonic()
    options = _options(tmp_path, "cpu-torch", sensor="none", budget_s=20, sweep_caps=SMALL_SWEEP)
    result = collect_gpu_data(options)
    assert time.monotonic() - started < 20
    archive = tmp_path / "out" / "cpu-torch.tar.gz"
    assert result.archive == archive and archive.exists()
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert {"cpu-torch/device.json", "cpu-torch/models.csv", "cpu-torch/lenet/convolutional.csv",
            "cpu-torch/journal.jsonl"} <= names
    assert any(name.startswith("cpu-torch/sweep/") for name in names)

    conv = _csv(archive, "cpu-torch/lenet/convolutional.csv")
    assert len(conv) == 2 and (conv["runtime"] > 0).all() and conv["power"].isna().all()
    models = _csv(archive, "cpu-torch/models.csv")
    assert list(models["model"]) == ["lenet"] and (models["runtime_ms"] > 0).all() and models["power_uw"].isna().all()

    device = json.loads(_read(archive, "cpu-torch/device.json"))
    assert device["backend"]["backend"] == "pytorch"
    (extras,) = device["gpu_collection_runs"]
    assert extras["zoo"]["complete"] and extras["zoo"]["complete_models"] == ["lenet"]
    assert extras["sensor"]["name"] == "none" and extras["sensor"]["loop_window_s"] == 0.02
    assert extras["device"]["torch_version"] and extras["end_to_end"]["timed"] == 1
    summary = result.summary()
    assert summary.startswith("summary:") and "power not measured" in summary

    # A rerun of the same command resumes: nothing of the zoo is measured again, no time is kept for
    # end-to-end timings the journal already has, and the run is added to device.json's list of runs.
    caplog.clear()
    collect_gpu_data(options)
    assert "0 configurations to measure" in caplog.text
    assert "0.0 s kept for 0 end-to-end timings" in caplog.text
    device = json.loads(_read(archive, "cpu-torch/device.json"))
    assert len(device["gpu_collection_runs"]) == 2 and "gpu_collection" not in device


def test_energy_counter_windows_are_aligned(tmp_path: Path, monkeypatch) -> None:
    nvml = ClockNvml(watts=120.0, interval_s=0.005)
    monkeypatch.setattr(gpu_collection, "detect_sensors", lambda: [SensorDetection("nvml", True, "fake")])
    monkeypatch.setattr(gpu_collection, "open_sensor", lambda name, device_index=0: NvmlSensor(nvml, device_index))
    options = _options(tmp_path, "cpu-fake-nvml", sensor="nvml", budget_s=20, idle_seconds=0.1,
                       sweep_caps=dict.fromkeys(SMALL_SWEEP, 1))
    collect_gpu_data(options)
    archive = tmp_path / "out" / "cpu-fake-nvml.tar.gz"
    conv = _csv(archive, "cpu-fake-nvml/lenet/convolutional.csv")
    assert conv["power"].notna().all()
    assert (conv["power"] / 1e6).between(120 * 0.97, 120 * 1.03).all()  # µW in the CSV
    device = json.loads(_read(archive, "cpu-fake-nvml/device.json"))
    sensor = device["gpu_collection_runs"][-1]["sensor"]
    assert sensor["window_alignment"] == "counter-update"
    assert sensor["counter_update_interval_s"] == pytest.approx(0.005, rel=0.2)
    assert sensor["loop_window_s"] >= 0.1
    assert sensor["description"]["aligned_windows"] > 0
    assert sensor["idle_power_before_w"] == pytest.approx(120, rel=0.05)
    assert device["power_sensor"]["idle_power_w"] == pytest.approx(120, rel=0.05)


def test_budget_too_small_for_the_zoo_skips_the_sweep(tmp_path: Path, caplog) -> None:
    collect_gpu_data(_options(tmp_path, "cpu-tiny", sensor="none", budget_s=2, batch_sizes=(1, 8)))
    assert "sweep skipped" in caplog.text
    archive = tmp_path / "out" / "cpu-tiny.tar.gz"
    device = json.loads(_read(archive, "cpu-tiny/device.json"))
    assert device["gpu_collection_runs"][-1]["zoo"]["complete"] is False
    assert "skipped" in device["gpu_collection_runs"][-1]["sweep"]["note"]


def test_unknown_model_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(EstimatorError, match="unknown model 'nosuchnet'"):
        collect_gpu_data(GpuRunOptions(data_dir=tmp_path, zoo_dir=ZOO, out=tmp_path / "out", device="cpu",
                                       models=("nosuchnet",)))
