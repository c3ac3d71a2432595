"""Curves: a model over several batch sizes or sizes of a named dimension, per-sample figures, every format."""

from __future__ import annotations

import csv
import dataclasses
import io
import json

import pytest

from estimator import estimate, estimate_curve, load_profile
from estimator.testing import small_cnn
from graph import ShapeError
from tests.fuzz.worker import check_text


def _square_input(model):
    """small_cnn with its height and width one symbolic dimension, 'side'."""
    for axis in (2, 3):
        model.graph.input[0].type.tensor_type.shape.dim[axis].dim_param = "side"
    return model


def test_a_batch_curve_has_one_point_per_size_with_per_sample_figures():
    profile = load_profile()
    curve = estimate_curve(small_cnn(), profile, batch_size=[1, 4, 16])
    assert curve.dimension == "batch_size" and curve.sweeps_batch
    assert [point.value for point in curve.points] == [point.batch_size for point in curve.points] == [1, 4, 16]
    for point in curve.points:
        alone = estimate(small_cnn(), profile, batch_size=point.value)
        # the same but for the last bits: scored together, numpy's vectorised exp and log may round a row 1 ulp apart
        for field in dataclasses.fields(point.totals):
            mine, theirs = getattr(point.totals, field.name), getattr(alone.totals, field.name)
            assert mine == (pytest.approx(theirs, rel=1e-12) if isinstance(mine, float) else theirs), field.name
        assert point.runtime_per_sample_ms == point.totals.runtime_ms / point.value
        assert point.throughput_samples_per_s == 1000 * point.value / point.totals.runtime_ms
        assert point.energy_per_sample_mj is None  # the default profile has no power models
    # the run overhead is paid once per batch, so a sample costs less in a larger one
    assert curve.points[2].runtime_per_sample_ms < curve.points[0].runtime_per_sample_ms


def test_a_dimension_curve_keeps_the_batch_and_sizes_every_input_axis_named_so():
    curve = estimate_curve(_square_input(small_cnn()), batch_size=2, dimensions={"side": [16, 32]})
    assert curve.dimension == "side" and not curve.sweeps_batch
    assert [point.batch_size for point in curve.points] == [2, 2]
    assert [point.report.input_shapes["x"] for point in curve.points] == [(2, 3, 16, 16), (2, 3, 32, 32)]
    assert curve.points[1].totals.runtime_ms > curve.points[0].totals.runtime_ms


def test_energy_per_sample_with_a_power_profile(powered_profile):
    curve = estimate_curve(small_cnn(), str(powered_profile), batch_size=[1, 2])
    for point in curve.points:
        assert point.energy_per_sample_mj == pytest.approx(point.totals.energy_mj / point.batch_size)
    assert "not measured" not in curve.to_table()


@pytest.mark.parametrize(("arguments", "error", "message"), [
    ({"batch_size": 1, "dimensions": {"side": 8}}, ValueError, "sweeps one dimension"),
    ({"batch_size": [1, 2], "dimensions": {"side": [8, 16]}}, ValueError, "got 2"),
    ({"batch_size": [], "dimensions": {"side": 8}}, ValueError, "no values"),
    ({"dimensions": {"sid": [8, 16]}}, ShapeError, "no input has a symbolic dimension named 'sid'"),
    ({"batch_size": [1, 0], "dimensions": {"side": 8}}, ValueError, "batch_size must be positive"),
])
def test_bad_curves_are_errors(arguments, error, message):
    with pytest.raises(error, match=message):
        estimate_curve(_square_input(small_cnn()), **arguments)


def test_every_format_shows_every_point():
    curve = estimate_curve(small_cnn(), batch_size=[1, 8, 32])
    document = json.loads(curve.to_json())
    assert [point["batch_size"] for point in document] == [1, 8, 32]
    # (the JSON rounds each time to 6 decimals, so the two agree to that, not to a relative 1e-5 of a 0.02 ms figure)
    assert document[1]["runtime_per_sample_ms"] == pytest.approx(document[1]["runtime_ms"] / 8, abs=1e-6)
    assert document[1]["energy_per_sample_mj"] is None and document[1]["power_note"] == "not measured for this profile"
    rows = list(csv.DictReader(io.StringIO(curve.to_csv())))
    assert [row["batch_size"] for row in rows] == ["1", "8", "32"] and rows[0]["energy_mj"] == ""
    table = curve.to_table()
    assert "batch size" in table and table.count("not measured") >= 6
    assert curve.to_markdown().startswith("# Curve: `small_cnn` over batch size")
    page = curve.to_html()
    assert page.count("<svg") == 2 and "<polyline" in page and "Throughput (samples/s)" in page
    for fmt, text in (("json", curve.to_json()), ("csv", curve.to_csv()), ("markdown", curve.to_markdown()),
                      ("html", page), ("table", table)):
        assert check_text(text, fmt, loose=False) == ""
    assert len(curve.to_frame()) == 3
