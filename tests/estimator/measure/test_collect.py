"""The collector on real ONNX Runtime sessions: a short collection, resume, CSV schema, power via a meter log."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from estimator.measure.backends.ort import OrtBackend
from estimator.measure.collector import CollectOptions, Collector, CollectPlan, ZooJob
from estimator.measure.layout import config_key
from estimator.measure.sensors import LogFileSensor, NoSensor
from estimator.measure.sweep import sample_layers
from estimator.measure.timing import LoopPolicy
from graph import SEED_COLUMNS, extract_layers
from tests.fakes import SMALL, MeterLog
from tests.paths import ZOO

LENET = ZOO / "lenet.onnx"
FAST = CollectOptions(policy=LoopPolicy(warmup_s=0.0, warmup_iterations=1, min_time_s=0.005, min_iterations=3),
                      model_policy=LoopPolicy(warmup_s=0.0, warmup_iterations=1, min_time_s=0.01, min_iterations=3),
                      idle_seconds=0.05)


def _plan(sweep: int = 2) -> CollectPlan:
    counts = {"convolutional": sweep, "pooling": sweep, "dense": sweep, "other": sweep}
    return CollectPlan(zoo=(ZooJob("lenet", LENET, (1, 2)),), sweep_counts=counts, sweep_seed=7, sweep_limits=SMALL)


@pytest.fixture(scope="module")
def collected(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("device") / "test-cpu"
    summary = Collector(out, OrtBackend(), NoSensor(), FAST, command_line="pytest").run(_plan())
    return out, summary


def test_short_collection_writes_the_layout(collected):
    out, summary = collected
    assert summary["complete"]
    for name in ("device.json", "journal.jsonl", "models.csv", "lenet/convolutional.csv", "lenet/pooling.csv",
                 "lenet/dense.csv", "lenet/other.csv", "sweep/convolutional.csv", "sweep/other.csv"):
        assert (out / name).is_file(), name


def test_csv_starts_with_the_seed_columns_in_order(collected):
    out, _ = collected
    for layer_type in ("convolutional", "pooling", "dense"):
        frame = pd.read_csv(out / "lenet" / f"{layer_type}.csv")
        assert tuple(frame.columns[: len(SEED_COLUMNS[layer_type])]) == SEED_COLUMNS[layer_type]


def test_every_lenet_layer_is_measured_at_both_batch_sizes(collected):
    out, _ = collected
    conv = pd.read_csv(out / "lenet" / "convolutional.csv")
    assert sorted(conv["batch_size"].tolist()) == [1, 1, 2, 2]
    assert (conv["runtime"] > 0).all()
    assert conv["power"].isna().all()  # no sensor: power stays empty, never a made-up value
    assert (conv["runtime_p10"] <= conv["runtime"]).all() and (conv["runtime"] <= conv["runtime_p90"]).all()


def test_models_csv_has_end_to_end_runtimes(collected):
    out, _ = collected
    models = pd.read_csv(out / "models.csv")
    assert models[["model", "batch_size"]].values.tolist() == [["lenet", 1], ["lenet", 2]]
    assert (models["runtime_ms"] > 0).all()
    assert models["power_uw"].isna().all()


def test_device_json_records_machine_backend_and_sensor(collected):
    out, _ = collected
    device = json.loads((out / "device.json").read_text())
    assert device["backend"]["session_options"]["intra_op_threads"] == 1
    assert device["power_sensor"]["power_measured"] is False
    assert device["method"]["call_overhead_ms"] > 0
    assert device["runs"][-1]["command_line"] == "pytest"


def test_rerun_resumes_without_measuring_again(collected):
    out, _ = collected
    before = (out / "journal.jsonl").read_text()
    summary = Collector(out, OrtBackend(), NoSensor(), FAST).run(_plan())
    assert summary["planned"] == 0 and summary["measured"] == 0
    assert (out / "journal.jsonl").read_text() == before


def test_a_truncated_journal_line_is_remeasured(tmp_path):
    out = tmp_path / "dev"
    plan = CollectPlan(sweep_counts={"other": 3}, sweep_seed=1, sweep_limits=SMALL, end_to_end=False)
    Collector(out, OrtBackend(), NoSensor(), FAST).run(plan)
    journal = out / "journal.jsonl"
    lines = journal.read_text().splitlines()
    journal.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:20])  # cut mid-line, as a kill would
    summary = Collector(out, OrtBackend(), NoSensor(), FAST).run(plan)
    assert summary["measured"] == 1
    assert len(pd.read_csv(out / "sweep" / "other.csv")) == 3


def test_time_budget_stops_early_and_says_so(tmp_path):
    options = CollectOptions(policy=FAST.policy, model_policy=FAST.model_policy, idle_seconds=0, time_budget_s=0.0)
    summary = Collector(tmp_path / "dev", OrtBackend(), NoSensor(), options).run(_plan())
    assert summary["complete"] is False and summary["measured"] == 0


def test_same_configuration_is_measured_once_across_models():
    first = extract_layers(LENET, batch_size=1).layers
    second = extract_layers(LENET, batch_size=1).layers
    assert [config_key(a) for a in first] == [config_key(b) for b in second]
    assert config_key(first[0]) != config_key(extract_layers(LENET, batch_size=2).layers[0])


def test_sweep_is_seeded_and_respects_its_caps():
    one = [config_key(layer) for layer in sample_layers("convolutional", 20, seed=3, limits=SMALL)]
    two = [config_key(layer) for layer in sample_layers("convolutional", 20, seed=3, limits=SMALL)]
    assert one == two
    assert all(layer.macs <= SMALL.max_macs for layer in sample_layers("convolutional", 20, seed=3, limits=SMALL))


def test_power_from_an_external_meter_log_lands_in_microwatts(tmp_path):
    """A meter logging a constant 12.5 W: every layer's power column reads 12.5e6 µW."""
    with MeterLog(tmp_path / "meter.csv", watts=12.5) as log:
        plan = CollectPlan(sweep_counts={"convolutional": 2}, sweep_seed=2, sweep_limits=SMALL, end_to_end=False)
        options = CollectOptions(policy=LoopPolicy(warmup_s=0.0, min_time_s=0.03, min_iterations=3), idle_seconds=0.05)
        Collector(tmp_path / "dev", OrtBackend(), LogFileSensor(log), options).run(plan)
    conv = pd.read_csv(tmp_path / "dev" / "sweep" / "convolutional.csv")
    assert conv["power"].tolist() == pytest.approx([12.5e6, 12.5e6])
    device = json.loads((tmp_path / "dev" / "device.json").read_text())
    assert device["power_sensor"]["idle_power_w"] == pytest.approx(12.5)



def test_a_later_run_at_other_batch_sizes_keeps_the_earlier_rows(tmp_path):
    out = tmp_path / "dev"
    for batches in ((1,), (2,)):
        plan = CollectPlan(zoo=(ZooJob("lenet", LENET, batches),), end_to_end=False)
        Collector(out, OrtBackend(), NoSensor(), FAST).run(plan)
    conv = pd.read_csv(out / "lenet" / "convolutional.csv")
    assert sorted(conv["batch_size"].tolist()) == [1, 1, 2, 2]
