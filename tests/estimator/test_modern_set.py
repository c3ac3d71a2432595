"""training_data/modern: the manifest matches the files, every file estimates on the default profile, the set stays
shape-only and small, the exporting libraries stay lazy, and no training path ever reads the set's measurements."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from estimator.measure.backends.ort import OrtBackend
from estimator.measure.incontext import RunPolicy
from estimator.measure.kernel_collector import KernelCollector
from estimator.measure.kernel_plan import file_jobs
from estimator.predict.estimation import estimate
from estimator.train.data import load_training_data
from estimator.train.graphs import graph_table
from graph import extract_layers, load_model
from graph.kernels import FusionRules
from tests.paths import MODERN, ROOT, ZOO

MANIFEST = json.loads((MODERN / "models.json").read_text())
ENTRIES = {entry["name"]: entry for entry in MANIFEST["models"]}
LIBRARIES = {"timm", "transformers", "ultralytics"}


def test_the_manifest_lists_every_file_and_at_least_25_models_from_the_three_libraries():
    assert MANIFEST["set"] == "modern" and MANIFEST["evaluation_only"] is True
    assert len(ENTRIES) == len(MANIFEST["models"]) >= 25
    assert {path.name for path in MODERN.glob("*.onnx")} == {entry["file"] for entry in ENTRIES.values()}
    assert {entry["library"] for entry in ENTRIES.values()} == LIBRARIES
    for entry in ENTRIES.values():
        assert entry["file"] == f"{entry['name']}.onnx"
        assert entry["library_version"] and entry["torch_version"] and entry["built"] and entry["tags"]
        assert entry["exporter"] in ("legacy", "dynamo")


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_each_file_is_shape_only_and_its_opset_and_inputs_are_the_manifest_s(name):
    entry = ENTRIES[name]
    path = MODERN / entry["file"]
    assert path.stat().st_size < 1_000_000 and not path.with_name(path.name + ".data").exists()
    proto = load_model(path).proto
    assert f"{entry['exporter']} exporter, {entry['library']} {entry['library_version']}" in proto.producer_name
    result = extract_layers(path)
    assert result.opset == entry["opset"]
    assert dict(result.input_shapes) == {i["name"]: tuple(i["shape"]) for i in entry["inputs"]}


def test_the_set_stays_under_5_mb():
    assert sum(path.stat().st_size for path in MODERN.glob("*.onnx")) < 5_000_000


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_each_model_estimates_on_the_default_profile_with_every_node_accounted_for(name):
    report = estimate(MODERN / ENTRIES[name]["file"])
    totals = report.totals
    assert totals.runtime_ms > 0 and totals.macs_total > 0
    assert totals.nodes_modeled + totals.nodes_free + totals.nodes_unmodeled == totals.nodes_total


def test_the_exporting_libraries_are_imported_only_by_the_builders():
    code = ("import sys, estimator.measure.zoo_modern, estimator.measure.zoo_families, graph, estimator; "
            "print(sorted(m for m in ('torch', 'timm', 'transformers', 'ultralytics') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == "[]"


def test_the_manifest_names_the_same_models_as_the_catalogue():
    from estimator.measure.zoo_modern import MODERN_MODELS

    assert list(ENTRIES) == [name for name in MODERN_MODELS if name in ENTRIES]
    assert set(ENTRIES) == set(MODERN_MODELS)


def test_a_timed_modern_model_is_evaluation_data_never_training_rows(tmp_path):
    folder = tmp_path / "cpu-test"
    jobs = [*file_jobs([ZOO / "lenet.onnx"], "zoo", (1,)), *file_jobs([MODERN / "mobilenetv4_conv_small.onnx"], "modern", (1,))]
    policy = RunPolicy(warmup_runs=1, min_runs=2, min_time_s=0.01, max_runs=5)
    KernelCollector(folder, OrtBackend(), FusionRules(), policy).run(jobs)
    assert (folder / "modern" / "convolutional.csv").is_file()  # timed, and kept where evaluation finds it
    data = load_training_data(folder)
    assert set(data.models["source"]) == {"zoo", "modern"}
    for frame in data.frames.values():
        assert "mobilenetv4_conv_small" not in set(frame["model"])
    assert list(graph_table(data)["model"]) == ["lenet"]


def test_collect_refuses_an_evaluation_only_folder_as_its_zoo(capsys):
    from scripts.collect import main

    assert main(["--device-id", "x", "--zoo-dir", str(MODERN), "--models", "all", "--data-dir", "/nonexistent"]) == 2
    assert "evaluation only" in capsys.readouterr().err
