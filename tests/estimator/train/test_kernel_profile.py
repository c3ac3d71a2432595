"""Kernels timed in context, end to end: a short real collection, a profile trained on it, its evaluation,
and estimates that compose exactly as the profile says."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from estimator.measure.backends.ort import OrtBackend
from estimator.measure.incontext import RunPolicy
from estimator.measure.kernel_collector import KernelCollector
from estimator.measure.kernel_plan import collect_in_context, file_jobs, generated_jobs
from estimator.predict.estimation import estimate
from estimator.predict.profiles import load_profile
from estimator.predict.units import KERNELS
from estimator.train.data import load_training_data
from estimator.train.kernel_evaluation import evaluate_kernel_profile
from estimator.train.profiles import measured_layer_kinds, train_profile
from estimator.train.transfer import CARRIES_BASE, choose_transfer
from estimator.train.units import training_for
from graph.generate import generate
from graph.kernels import FusionRules
from graph.schema import SEED_COLUMNS
from tests.paths import MODERN, ZOO

QUICK = RunPolicy(warmup_runs=1, min_runs=3, min_time_s=0.02, max_runs=20)
FAMILIES = ("basic_residual", "inverted_residual", "attention")


@pytest.fixture(scope="module")
def collected(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("incontext") / "cpu-test"
    unseen = tmp_path_factory.mktemp("unseen")
    shutil.copy(ZOO / "lenet.onnx", unseen / "lenet_unseen.onnx")
    jobs = [*file_jobs([ZOO / "lenet.onnx"], "zoo", (1, 2)), *file_jobs([ZOO / "mobilenet_v3_small.onnx"], "zoo", (1,)),
            *generated_jobs(2, FAMILIES, max_macs=2e8), *file_jobs([unseen / "lenet_unseen.onnx"], "unseen", (1,)),
            *file_jobs([MODERN / "mobilenetv4_conv_small.onnx"], "modern", (1,))]
    summary = collect_in_context(folder, jobs, OrtBackend(), QUICK, command="test")
    assert summary["complete"] and summary["measured"] == len(jobs)
    return folder


@pytest.fixture(scope="module")
def profile(collected, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("kernel-profile") / "cpu-test"
    train_profile(collected, out, "cpu-test", params={"iterations": 30})
    return out


def test_collection_writes_the_seed_layout_with_kernel_columns_after(collected):
    conv = pd.read_csv(collected / "lenet" / "convolutional.csv")
    assert list(conv.columns[:len(SEED_COLUMNS["convolutional"])]) == list(SEED_COLUMNS["convolutional"])
    assert {"kernel_op", "layout", "activation", "graph_batch_size"} <= set(conv.columns)
    assert conv["power"].isna().all() and (conv["runtime"] > 0).all()
    assert set(conv["graph_batch_size"]) == {1, 2}
    generated = pd.read_csv(collected / "generated" / "convolutional.csv")
    assert generated["model"].str.rsplit("_", n=1).str[0].isin(FAMILIES).all()
    models = pd.read_csv(collected / "models.csv")
    assert set(models["source"]) == {"zoo", "generated", "unseen", "modern"}
    assert (models["paired"] <= models["kernels"]).all() and (models["end_to_end_ms"] > 0).all()


def test_device_json_records_the_probed_rules_and_the_fingerprint(collected):
    device = json.loads((collected / "device.json").read_text())
    FusionRules.from_dict(device["fusion_rules"])  # a valid rule set
    assert device["method"]["unit"] == "kernels"
    assert device["fingerprint"]["intra_op_threads"] == 1 and device["fingerprint"]["cpu_model"]
    assert "allow_spinning=0" in device["method"]["thread_pools"]


@pytest.mark.parametrize("threads", [1, 2])
def test_sessions_take_turns_without_a_pool_and_spin_as_users_do_with_one(monkeypatch, threads):
    # Alternating with a spinning idle pool made resnet18 2.5x slower at 2 threads, and a pool that does not spin made
    # small-kernel graphs up to 1.9x slower than a user's session (SPINNING_NOTE).
    from estimator.measure.backends.ort import OrtSettings
    from estimator.measure.incontext import time_graph
    from graph.build import runnable_model

    backend = OrtBackend(OrtSettings(intra_op_threads=threads))
    opened = []
    real = backend.session

    def recording(model, profile_prefix=None, spinning=True):
        session = real(model, profile_prefix, spinning)
        entry = session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") \
            if not spinning else "default"
        opened.append(("profiled" if profile_prefix else "plain", entry))
        return session

    monkeypatch.setattr(backend, "session", recording)
    timing = time_graph(backend, runnable_model(ZOO / "lenet.onnx", {"input": (1, 1, 32, 32)}), QUICK)
    assert timing.end_to_end_ms > 0 and timing.kernel_sum_ms > 0 and timing.runs >= QUICK.min_runs
    expected = [("plain", "0"), ("profiled", "0")] if threads == 1 else [("profiled", "default"), ("plain", "default")]
    assert opened == expected


def test_a_rerun_resumes_without_measuring_again(collected):
    jobs = file_jobs([ZOO / "lenet.onnx"], "zoo", (1, 2))
    collector = KernelCollector(collected, OrtBackend(), FusionRules(), QUICK)
    assert collector.run(jobs)["planned"] == 0


def test_unseen_graphs_are_never_training_rows(collected):
    data = load_training_data(collected)
    assert data.unit is KERNELS
    for frame in data.frames.values():
        assert {"lenet_unseen", "mobilenetv4_conv_small"}.isdisjoint(set(frame["model"]))


def test_profile_records_unit_rules_and_composition(profile, collected):
    manifest = json.loads((profile / "profile.json").read_text())
    device = json.loads((collected / "device.json").read_text())
    assert manifest["unit"] == "kernels"
    assert manifest["fusion_rules"] == device["fusion_rules"]
    assert manifest["composition"]["method"] == "kernels"
    assert manifest["composition"]["run_overhead_ms"] >= 0 and manifest["composition"]["profiler_overhead_ms"] >= 0
    assert "kernel_op" in manifest["features"]["convolutional"]
    holdout = manifest["validation"]["holdout"]  # a fifth of the graphs held out, told by family too
    assert holdout["families"] and set(holdout["families"]) <= {*FAMILIES, "zoo"}
    assert sum(entry["pairs"] for entry in holdout["families"].values()) == holdout["models"]["pairs"]


def test_estimate_is_run_overhead_plus_the_kernels_and_accounts_for_every_node(profile):
    report = estimate(generate("inverted_residual_se", 5).model, str(profile), batch_size=2)
    loaded = load_profile(profile)
    overhead = loaded.manifest["composition"]["run_overhead_ms"]
    assert report.totals.run_overhead_ms == overhead
    assert report.totals.runtime_ms == pytest.approx(overhead + report.layers["runtime_ms"].sum())
    assert {"kernel", "layout", "fused_nodes"} <= set(report.layers.columns)
    totals = report.totals
    assert totals.nodes_modeled + totals.nodes_free + totals.nodes_unmodeled == totals.nodes_total
    assert report.layers["fused_nodes"].sum() == totals.nodes_modeled


def test_evaluation_covers_zoo_families_and_unseen(collected, profile):
    # The unseen model lives outside the repository: models.csv names it by its absolute path.
    written = evaluate_kernel_profile(collected, profile, params={"iterations": 20})
    text = written.read_text()
    assert "## Leave-one-model-out over the zoo" in text
    assert "## Leave-one-family-out over generated networks" in text
    assert "## Unseen torchvision classifiers" in text
    document = json.loads((profile / "evaluation.json").read_text())
    assert document["zoo_leave_one_model_out"]["summary"]["n"] == 3  # lenet at 1 and 2, mobilenet_v3_small at 1
    assert {row["family"] for row in document["generated_leave_one_family_out"]["families"]} == set(FAMILIES)
    assert [row["model"] for row in document["unseen"]] == ["lenet_unseen"]
    assert "## Modern exports" in text and [row["model"] for row in document["modern"]] == ["mobilenetv4_conv_small"]


def test_no_lomo_skips_the_zoo_folds_and_keeps_leave_one_family_out(collected, profile, tmp_path):
    # What `scripts/evaluate.py --no-lomo` asks of a kernel profile (it once skipped the families instead).
    copy = shutil.copytree(profile, tmp_path / "profile")
    text = training_for(KERNELS).evaluate(collected, copy, {"iterations": 20}, False, False).read_text()
    assert "## Leave-one-model-out over the zoo\n\nNot run (`scripts/evaluate.py --no-lomo`)." in text
    assert "## Leave-one-family-out over generated networks" in text and "## Modern exports" in text
    document = json.loads((copy / "evaluation.json").read_text())
    assert "zoo_leave_one_model_out" not in document
    assert {row["family"] for row in document["generated_leave_one_family_out"]["families"]} == set(FAMILIES)


def test_calibrate_writes_a_profile_that_estimate_then_uses_here(profile, tmp_path, monkeypatch, capsys):
    from estimator.calibrate import main
    from estimator.predict.userdata import HOME_VARIABLE

    monkeypatch.setenv(HOME_VARIABLE, str(tmp_path / "home"))
    assert main(["--budget", "15", "--base", str(profile), "--id", "here", "--threads", "1"]) == 0
    path = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert path == tmp_path / "home" / "profiles" / "here" and (path / "profile.json").exists()
    manifest = json.loads((path / "profile.json").read_text())
    origin = manifest["origin"]
    assert origin["kind"] == "calibrated" and origin["base_profile"] == "cpu-test" and origin["strategy_asked"] == "auto"
    assert manifest["fingerprint"]["intra_op_threads"] == 1 and manifest["unit"] == "kernels"
    base = json.loads((profile / "profile.json").read_text())
    measured = measured_layer_kinds(load_training_data(tmp_path / "home" / "training_data" / "here"))
    # auto: a fit from scratch competes only where this machine's rows cover every layer kind of the base
    compared = origin["strategies_held_out"]
    assert list(compared) == (["continue", "scratch"] if set(base["layer_kinds"]) <= set(measured) else ["continue"])
    assert origin["strategy"] == min(compared, key=lambda name: compared[name]["runtime_mape"])
    assert set(base["layer_kinds"]) <= set(manifest["layer_kinds"])  # it covers every family of its base
    if origin["strategy"] in CARRIES_BASE:  # its trees carry the base's feature ranges too
        for layer_type, entry in base["feature_ranges"].items():
            for column, (low, high) in entry["numeric"].items():
                mine = manifest["feature_ranges"][layer_type]["numeric"][column]
                assert mine[0] <= low and mine[1] >= high
    else:
        assert manifest["layer_kinds"] == measured
    evaluation = (path / "evaluation.md").read_text()
    assert "budget_s" in evaluation and ("## Which strategy" in evaluation) == (len(compared) == 2)
    assert ("## Held-out graphs by family" in evaluation) == bool(manifest["validation"]["holdout"].get("families"))
    report = estimate(generate("depthwise_separable", 3).model, threads=1)  # no profile named: this machine's own
    assert report.profile_id == "here" and report.device_note == "profile here (local): measured on this machine at 1 thread(s)"
    # A rerun resumes: nothing already in the journal is measured again, and a profile is written again.
    journal = (tmp_path / "home" / "training_data" / "here" / "journal.jsonl").read_text().splitlines()
    assert main(["--budget", "15", "--base", str(profile), "--id", "here", "--threads", "1"]) == 0
    again = (tmp_path / "home" / "training_data" / "here" / "journal.jsonl").read_text().splitlines()
    assert again[:len(journal)] == journal


def test_ranges_record_each_op_class_largest_product_and_merge_with_a_base(collected, profile, tmp_path):
    frame = load_training_data(collected).frames["other"]
    features = KERNELS.featurize(frame[frame["runtime_ms"].notna()], "other")
    products = features[features["macs"] > 0]
    expected = products.groupby(products["op_class"].astype(str))["macs"].max().to_dict()
    ranges = json.loads((profile / "profile.json").read_text())["feature_ranges"]["other"]
    assert expected and ranges["largest_macs_by_class"] == expected  # e.g. the transformer's MatMuls
    base = json.loads((profile / "profile.json").read_text())
    name = next(iter(expected))
    base["feature_ranges"]["other"]["largest_macs_by_class"] = {name: 1e12, "a class only the base had": 5.0}
    merged = train_profile(collected, tmp_path / "with", "with", params={"iterations": 5}, base_manifest=base)
    assert merged["feature_ranges"]["other"]["largest_macs_by_class"] == {
        **expected, name: 1e12, "a class only the base had": 5.0}
    del base["feature_ranges"]["other"]["largest_macs_by_class"]  # a base trained before they were recorded
    without = train_profile(collected, tmp_path / "without", "without", params={"iterations": 5}, base_manifest=base)
    assert "largest_macs_by_class" not in without["feature_ranges"]["other"]


def test_auto_transfer_keeps_the_strategy_nearer_on_held_out_graphs(collected, profile):
    data = load_training_data(collected)
    base = load_profile(profile)
    choice = choose_transfer(data, base)
    errors = {name: entry["runtime_mape"] for name, entry in choice.held_out().items()}
    assert list(errors) == ["continue", "scratch"] and all(np.isfinite(list(errors.values())))
    assert choice.strategy == min(errors, key=errors.get)
    # A base with a layer kind this machine never timed: only the strategy that keeps the base's trees competes.
    wider = dataclasses.replace(base, manifest={**base.manifest, "layer_kinds": [*base.manifest["layer_kinds"], "lstm"]})
    narrow = choose_transfer(data, wider)
    assert narrow.strategy == "continue" and list(narrow.validations) == ["continue"]
    assert narrow.held_out()["continue"] == choice.held_out()["continue"]  # the same held-out fifth, the same fit
    assert choose_transfer(data, base, "scale").held_out().keys() == {"scale"}


def test_a_graph_the_runtime_cannot_run_is_skipped_with_its_reason(tmp_path, monkeypatch):
    import estimator.measure.kernel_collector as collector_module
    from estimator.errors import MeasureError

    real = collector_module.time_graph

    def failing(backend, model, policy=None):
        if model.name == "inception_100":
            raise MeasureError("inception_100: ONNX Runtime failed running it: no detections")
        return real(backend, model, policy)

    monkeypatch.setattr(collector_module, "time_graph", failing)
    jobs = [job for job in generated_jobs(1, ("inception",), first_seed=100, max_macs=2e8)]
    jobs += file_jobs([ZOO / "lenet.onnx"], "zoo", (1,))
    collector = KernelCollector(tmp_path / "dev", OrtBackend(), FusionRules(), QUICK)
    assert collector.run(jobs) == {"planned": 2, "measured": 2, "complete": True}
    assert [(e["model"], e["reason"]) for e in collector.skipped()] == [
        ("inception_100", "inception_100: ONNX Runtime failed running it: no detections")]
    assert list(pd.read_csv(tmp_path / "dev" / "models.csv")["model"]) == ["lenet"]


def test_calibration_study_judges_every_budget_on_the_unseen_models(collected, profile):
    from estimator.train.calibration import elapsed_s
    from estimator.train.graphs import graph_table
    from estimator.train.study import calibration_study

    base = load_profile(profile)
    elapsed = float(elapsed_s(graph_table(load_training_data(collected))).max())
    summary, per_model = calibration_study(collected, collected, base, base, (elapsed,), strategies=("scale", "auto"))
    assert list(summary["strategy"]) in (["base profile only", "scale", f"auto ({chosen})", "cpu-test"]
                                         for chosen in ("continue", "scratch"))  # auto names what it chose
    assert list(per_model["model"]) == ["lenet_unseen b1"]
    truth = pd.read_csv(collected / "models.csv").set_index("source").loc["unseen"]
    report = estimate(truth["path"], base, batch_size=1)
    expected = (report.totals.runtime_ms / truth["end_to_end_ms"] - 1) * 100
    assert per_model["0 base profile only"].iloc[0] == pytest.approx(expected)
    assert per_model["full collection cpu-test"].iloc[0] == pytest.approx(expected)  # the same profile twice
    assert summary["n"].tolist() == [1, 1, 1, 1]


def test_the_calibration_zoo_ships_in_the_package_as_exact_copies():
    from estimator.measure.calibration import CALIBRATION_FAMILIES, CALIBRATION_ZOO, ZOO_DIR
    from estimator.train.calibration import JUDGED_ZOO

    assert set(JUDGED_ZOO) < set(CALIBRATION_ZOO) and len(CALIBRATION_ZOO) == len(list(ZOO.glob("*.onnx")))
    assert ZOO_DIR.is_relative_to(Path(__file__).resolve().parents[3] / "estimator")  # inside the package
    for name in CALIBRATION_ZOO:
        assert (ZOO_DIR / f"{name}.onnx").read_bytes() == (ZOO / f"{name}.onnx").read_bytes(), name
    for name in CALIBRATION_FAMILIES:
        assert (ZOO_DIR / f"{name}.onnx").read_bytes() == (ZOO.parent / "families" / f"{name}.onnx").read_bytes(), name
    assert {path.stem for path in ZOO_DIR.glob("*.onnx")} == set(CALIBRATION_ZOO) | set(CALIBRATION_FAMILIES)
