"""scripts/collect_gpu.py run end to end on the CPU with tiny budgets: the archive holds the usual
training_data/<device-id>/ layout; a rerun resumes; a fake NVML energy counter gives aligned power;
a budget too small for the zoo skips the sweep and still packs what it has."""

from __future__ import annotations

import importlib.util
import io
import json
import tarfile
import time
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("torch")

from tests.fakes import ClockNvml

ROOT = Path(__file__).resolve().parents[1]
LENET = ROOT / "training_data" / "zoo" / "lenet.onnx"
pytestmark = pytest.mark.skipif(not LENET.exists(), reason="zoo not exported")


@pytest.fixture(scope="module")
def collect_gpu():
    spec = importlib.util.spec_from_file_location("collect_gpu", ROOT / "scripts" / "collect_gpu.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _args(tmp_path: Path, device_id: str, *extra: str) -> list[str]:
    return ["--device", "cpu", "--device-id", device_id, "--data-dir", str(tmp_path / "data"),
            "--out", str(tmp_path / "out"), "--models", "lenet", "--batch-sizes", "1", "--threads", "1", *extra]


def _read(archive: Path, member: str) -> bytes:
    with tarfile.open(archive) as tar:
        return tar.extractfile(member).read()


def _csv(archive: Path, member: str) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(_read(archive, member)))


def test_cpu_run_packs_the_training_data_layout(collect_gpu, tmp_path: Path, capsys) -> None:
    started = time.monotonic()
    args = _args(tmp_path, "cpu-torch", "--sensor", "none", "--budget-s", "20", "--sweep-conv", "4",
                 "--sweep-pool", "2", "--sweep-dense", "2", "--sweep-other", "4")
    assert collect_gpu.main(args) == 0
    assert time.monotonic() - started < 20
    archive = tmp_path / "out" / "cpu-torch.tar.gz"
    assert archive.exists()
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
    extras = device["gpu_collection"]
    assert extras["zoo"]["complete"] and extras["zoo"]["complete_models"] == ["lenet"]
    assert extras["sensor"]["name"] == "none" and extras["sensor"]["loop_window_s"] == 0.02
    assert extras["device"]["torch_version"] and extras["end_to_end"]["timed"] == 1
    out = capsys.readouterr().out
    assert "summary:" in out and "power not measured" in out

    # A rerun of the same command resumes: nothing of the zoo is measured again.
    assert collect_gpu.main(args) == 0
    assert "0 configurations to measure" in capsys.readouterr().out


def test_energy_counter_windows_are_aligned(collect_gpu, tmp_path: Path, monkeypatch) -> None:
    from estimator.measure.sensors import NvmlSensor, SensorDetection

    nvml = ClockNvml(watts=120.0, interval_s=0.005)
    monkeypatch.setattr(collect_gpu, "detect_sensors", lambda: [SensorDetection("nvml", True, "fake")])
    monkeypatch.setattr(collect_gpu, "open_sensor", lambda name, device_index=0: NvmlSensor(nvml, device_index))
    args = _args(tmp_path, "cpu-fake-nvml", "--sensor", "nvml", "--budget-s", "20", "--idle-seconds", "0.1",
                 "--sweep-conv", "1", "--sweep-pool", "1", "--sweep-dense", "1", "--sweep-other", "1")
    assert collect_gpu.main(args) == 0
    archive = tmp_path / "out" / "cpu-fake-nvml.tar.gz"
    conv = _csv(archive, "cpu-fake-nvml/lenet/convolutional.csv")
    assert conv["power"].notna().all()
    assert (conv["power"] / 1e6).between(120 * 0.97, 120 * 1.03).all()  # µW in the CSV
    device = json.loads(_read(archive, "cpu-fake-nvml/device.json"))
    sensor = device["gpu_collection"]["sensor"]
    assert sensor["window_alignment"] == "counter-update"
    assert sensor["counter_update_interval_s"] == pytest.approx(0.005, rel=0.2)
    assert sensor["loop_window_s"] >= 0.1
    assert sensor["description"]["aligned_windows"] > 0
    assert sensor["idle_power_before_w"] == pytest.approx(120, rel=0.05)
    assert device["power_sensor"]["idle_power_w"] == pytest.approx(120, rel=0.05)


def test_budget_too_small_for_the_zoo_skips_the_sweep(collect_gpu, tmp_path: Path, capsys) -> None:
    args = _args(tmp_path, "cpu-tiny", "--sensor", "none", "--budget-s", "2", "--batch-sizes", "1", "8")
    assert collect_gpu.main(args) == 0
    out = capsys.readouterr().out
    assert "sweep skipped" in out
    archive = tmp_path / "out" / "cpu-tiny.tar.gz"
    device = json.loads(_read(archive, "cpu-tiny/device.json"))
    assert device["gpu_collection"]["zoo"]["complete"] is False
    assert "skipped" in device["gpu_collection"]["sweep"]["note"]


def test_unknown_model_is_an_error(collect_gpu, tmp_path: Path, capsys) -> None:
    assert collect_gpu.main(["--device", "cpu", "--models", "nosuchnet", "--data-dir", str(tmp_path)]) == 2
    assert "unknown model 'nosuchnet'" in capsys.readouterr().err
