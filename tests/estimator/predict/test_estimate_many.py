"""estimate_many(): many models scored together give each the Report estimate() gives it, in-process, on a
process pool and on a Dask cluster; a model's failure is its own."""

from __future__ import annotations

import dataclasses
import gc
import os
from concurrent.futures import ProcessPoolExecutor

import pandas as pd
import pytest

from estimator import estimate, estimate_many, load_profile
from estimator.errors import EstimatorError
from estimator.predict import extraction
from estimator.predict.composition import composition_groups
from estimator.predict.units import KERNELS, LAYERS
from estimator.testing import small_cnn
from graph import LAYER_TYPES, ModelLoadError, extract_layers, is_costed, layer_row
from graph.frames import DESCRIPTIVE_COLUMNS
from graph.kernels import extract_kernels
from graph.kernels.frames import kernel_row
from tests.estimator_fixtures import huge_conv
from tests.paths import FAMILIES, MODERN, ZOO


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> list:
    """Files, bytes and a proto of models that differ in channels, batch, unmodeled nodes and training ranges."""
    folder = tmp_path_factory.mktemp("many")
    paths = []
    for name, model in (("small", small_cnn()), ("wide", small_cnn(channels=24)), ("lp", small_cnn(with_unmodeled=True)),
                        ("huge", huge_conv())):
        path = folder / f"{name}.onnx"
        path.write_bytes(model.SerializeToString())
        paths.append(str(path))
    return [*paths, small_cnn(channels=5).SerializeToString(), small_cnn(channels=3, batch=2)]


def assert_same_report(many, one) -> None:
    """Equal in every field (dtypes and order too); floats to 1e-9 relative: CatBoost's vectorised scoring may
    round the last bits of a row differently when it is scored among other rows."""
    pd.testing.assert_frame_equal(many.layers, one.layers, check_exact=False, rtol=1e-9)
    for field in dataclasses.fields(one):
        if field.name == "layers":
            continue
        if field.name == "totals":
            for total in dataclasses.fields(one.totals):
                mine, theirs = getattr(many.totals, total.name), getattr(one.totals, total.name)
                if isinstance(theirs, float):
                    assert mine == pytest.approx(theirs, rel=1e-9), total.name
                else:
                    assert mine == theirs, total.name
        else:
            assert getattr(many, field.name) == getattr(one, field.name), field.name


@pytest.mark.parametrize("profile_id", ["amd-epyc-f23m49-avx2-t1", "cpu-epyc-1thread"])  # kernels; isolated layers
def test_each_model_gets_the_report_estimate_gives_it(models, profile_id):
    profile = load_profile(profile_id)
    reports = estimate_many(models, profile)
    assert len(reports) == len(models)
    for model, report in zip(models, reports, strict=True):
        assert_same_report(report, estimate(model, profile))
    assert reports[1].totals.runtime_ms > reports[0].totals.runtime_ms  # 24 channels cost more than 8


def test_a_process_pool_gives_the_same_reports(models):
    profile = load_profile()
    with ProcessPoolExecutor(max_workers=2) as pool:
        reports = estimate_many(models, profile, executor=pool, chunk_size=2)
    for model, report in zip(models, reports, strict=True):
        assert_same_report(report, estimate(model, profile))


def test_a_dask_cluster_gives_the_same_reports(models):
    distributed = pytest.importorskip("distributed", reason="Dask's distributed scheduler is in the test extra")
    profile = load_profile()
    with distributed.LocalCluster(n_workers=1, processes=False, threads_per_worker=1, dashboard_address=None) \
            as cluster, distributed.Client(cluster) as client:
        reports = estimate_many(models, profile, executor=client.get_executor())
    for model, report in zip(models, reports, strict=True):
        assert_same_report(report, estimate(model, profile))


def test_a_failing_model_raises_or_takes_its_place(models):
    mixed = [models[0], "missing.onnx", models[1]]
    with pytest.raises(ModelLoadError, match=r"missing\.onnx: file not found"):
        estimate_many(mixed)
    first, error, third = estimate_many(mixed, return_errors=True)
    assert isinstance(error, ModelLoadError) and "missing.onnx: file not found" in str(error)
    assert_same_report(first, estimate(models[0]))
    assert_same_report(third, estimate(models[1]))


def _crash(job, settings):
    """Reading that kills its process on one model (as running out of memory would)."""
    if str(job.model).endswith("wide.onnx"):
        os._exit(1)
    return extraction_prepare(job, settings)


extraction_prepare = extraction.prepare


def test_a_worker_that_dies_is_its_models_error(models, monkeypatch):
    monkeypatch.setattr(extraction, "prepare", _crash)  # the pool's forked worker sees the patch
    with ProcessPoolExecutor(max_workers=1) as pool:
        first, lost = estimate_many(models[:2], executor=pool, chunk_size=1, return_errors=True)
    assert_same_report(first, estimate(models[0]))
    assert isinstance(lost, EstimatorError)
    assert str(lost) == (f"{models[1]}: the process estimating it died (out of memory or a crash); "
                         "estimate it alone to see why")


@pytest.mark.parametrize("unit", [KERNELS, LAYERS], ids=["kernels", "layers"])
def test_models_are_read_with_only_the_columns_scoring_reads(unit):
    """A frame of a unit's input_columns() featurises as the full rows do (a column its featurize() starts to read
    must be added), and so do the rows estimating reads, without the descriptive columns (layer_row's
    described=False)."""
    rules = load_profile().rules
    for path in (ZOO / "mobilenet_v3_small.onnx", ZOO / "lenet.onnx", FAMILIES / "resnet18_int8_qdq.onnx",
                 FAMILIES / "lstm.onnx", FAMILIES / "transformer_encoder.onnx", FAMILIES / "r3d_18.onnx"):
        if unit is KERNELS:
            kernels = extract_kernels(path, rules).kernels
            records = [k.layer for k in kernels]
            rows, brief_rows = [kernel_row(k) for k in kernels], [kernel_row(k, described=False) for k in kernels]
        else:
            records = [layer for layer in extract_layers(path).layers if is_costed(layer)]
            rows = [layer_row(layer) for layer in records]
            brief_rows = [layer_row(layer, described=False) for layer in records]
        for layer_type in LAYER_TYPES:
            frame, brief = (pd.DataFrame([row for row, record in zip(some, records, strict=True)
                                          if record.layer_type == layer_type]) for some in (rows, brief_rows))
            if frame.empty:
                continue
            read = sorted(unit.input_columns(layer_type) & set(frame.columns))
            assert not DESCRIPTIVE_COLUMNS & unit.input_columns(layer_type)
            assert set(frame.columns) - set(brief.columns) <= DESCRIPTIVE_COLUMNS
            pd.testing.assert_frame_equal(unit.featurize(frame[read], layer_type), unit.featurize(frame, layer_type))
            pd.testing.assert_frame_equal(unit.featurize(brief, layer_type), unit.featurize(frame, layer_type))
            assert (composition_groups(frame[read], layer_type) == composition_groups(frame, layer_type)).all()


def test_a_batch_leaves_no_cycle_for_the_collector():
    """estimate_many runs with the cyclic collector paused (graph.collector): that is safe only while reading and
    scoring leave no cycle, which the working graph's journal made until the graph forgets it once read."""
    profile = load_profile()
    sources = [MODERN / "yolo11n.onnx", MODERN / "bert_base_seq128.onnx", ZOO / "resnet18.onnx"]
    estimate_many(sources, profile)
    gc.collect()
    gc.disable()
    try:
        reports = estimate_many(sources, profile)
        assert len(reports) == 3
        del reports
        assert gc.collect() == 0
    finally:
        gc.enable()
