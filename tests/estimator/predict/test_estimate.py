"""Estimating tiny models with the shipped profile and with profiles trained in the tests (see conftest.py)."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest

from estimator import estimate, list_profiles, load_profile
from estimator.errors import ProfileError
from estimator.predict.composition import SMALL_GRAPH_MS, KernelComposition
from estimator.predict.profiles import DEFAULT_PROFILE, PROFILE_DIR
from estimator.testing import small_cnn
from tests.estimator_fixtures import huge_conv


def test_kernel_totals_are_the_run_overhead_plus_the_kernels():
    report = estimate(small_cnn(), DEFAULT_PROFILE)  # a kernel profile predicts the kernels ONNX Runtime runs (AVX2 rules)
    overhead = report.totals.run_overhead_ms
    assert 0 < overhead < 1
    assert report.totals.runtime_ms == pytest.approx(report.layers["runtime_ms"].sum() + overhead)
    assert report.layers["runtime_share"].sum() == pytest.approx(1.0 - overhead / report.totals.runtime_ms)
    # relu1 runs inside conv1's kernel; the NCHWc region ends with a reorder before Flatten
    assert list(report.layers["name"]) == ["conv1", "pool1", "gap", "ReorderOutput(g)", "flatten", "fc"]
    assert report.layers.loc[0, "kernel"] == "Conv+Relu (NCHWc)"
    assert (report.layers["runtime_ms"] > 0).all()
    assert report.totals.nodes_total == 6 and report.totals.nodes_modeled == 6


def test_layer_totals_are_the_sum_of_the_layers():
    report = estimate(small_cnn(), profile="cpu-epyc-1thread")  # a profile of isolated layers
    assert report.totals.run_overhead_ms == 0
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
    report = estimate(small_cnn(with_unmodeled=True))
    assert report.totals.nodes_unmodeled == 1
    assert report.totals.unmodeled_by_op == {"LpPool": 1}
    assert report.unmodeled[0].name == "lp_pool"


def test_out_of_distribution_layer_is_flagged():
    report = estimate(huge_conv())
    flagged = report.layers.set_index("op_type")["out_of_distribution"]
    assert flagged["Conv"] and not flagged["ReorderInput"] and not flagged["ReorderOutput"]
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


def test_profile_with_power_reports_power_and_energy(powered_profile):
    report = estimate(small_cnn(), profile=str(powered_profile))
    assert report.power_measured
    assert report.layers["power_w"].to_numpy() == pytest.approx(20.0, abs=1.0)
    assert report.totals.power_w == pytest.approx(20.0, abs=1.0)
    assert report.totals.energy_mj == pytest.approx((report.layers["power_w"] * report.layers["runtime_ms"]).sum())
    assert report.totals.energy_mj == pytest.approx(report.totals.power_w * report.totals.runtime_ms)
    assert "not measured" not in report.to_table()


def test_a_small_graph_takes_the_small_graph_scale_on_every_kernel(tmp_path):
    # A kernel profile whose composition fitted a small-graph exponent: a graph whose kernels sum to under 1 ms has
    # each kernel (and so its total) scaled by KernelComposition.graph_scale of that sum; the rows still add up.
    folders = {}
    for exponent in (0.0, 0.5):
        folder = folders[exponent] = tmp_path / f"exponent-{exponent}"
        shutil.copytree(PROFILE_DIR / "amd-epyc-f25m17-avx512-t1", folder)
        manifest = json.loads((folder / "profile.json").read_text())
        manifest["composition"]["small_graph_exponent"] = exponent
        (folder / "profile.json").write_text(json.dumps(manifest))
    plain, scaled = (estimate(small_cnn(), str(folders[exponent])) for exponent in (0.0, 0.5))
    kernels_ms = plain.totals.runtime_ms - plain.totals.run_overhead_ms
    assert 0 < kernels_ms < SMALL_GRAPH_MS
    factor = KernelComposition.from_dict(manifest["composition"]).graph_scale(kernels_ms)
    assert factor == pytest.approx((kernels_ms / SMALL_GRAPH_MS) ** (0.5 / math.log(10)))
    np.testing.assert_allclose(scaled.layers["runtime_ms"], plain.layers["runtime_ms"] * factor)
    assert scaled.totals.runtime_ms == pytest.approx(scaled.layers["runtime_ms"].sum() + scaled.totals.run_overhead_ms)
