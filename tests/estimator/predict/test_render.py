"""Every renderer on a real estimate of a tiny model with the shipped (runtime-only) profile."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from estimator import estimate
from estimator.predict.formats import VIEWS, renderer
from estimator.predict.render import FORMATS, render, render_summary
from estimator.predict.render.cells import pipe_table
from estimator.predict.render.common import NOT_MEASURED
from estimator.testing import small_cnn
from tests.paths import ROOT


@pytest.fixture(scope="module")
def report():
    return estimate(small_cnn(with_unmodeled=True))


def test_json_has_stable_fields_with_units(report):
    document = json.loads(report.to_json())
    assert set(document) >= {"model", "profile", "device", "power_measured", "power_note", "batch_size",
                             "batch_size_assumed", "totals", "nodes", "unmodeled", "layers"}
    assert set(document["totals"]) >= {"runtime_ms", "runtime_low_ms", "runtime_high_ms", "power_w", "energy_mj"}
    assert document["power_note"] == NOT_MEASURED
    assert document["totals"]["power_w"] is None
    assert document["nodes"]["unmodeled_by_op"] == {"LpPool": 1}
    assert document["unmodeled"][0]["name"] == "lp_pool"
    assert [layer["name"] for layer in document["layers"]] == list(report.layers["name"])
    # Each value is rounded to 6 decimals, so the sum may differ by half a unit per layer.
    assert document["totals"]["run_overhead_ms"] > 0
    assert sum(layer["runtime_ms"] for layer in document["layers"]) + document["totals"]["run_overhead_ms"] == (
        pytest.approx(document["totals"]["runtime_ms"], abs=(len(document["layers"]) + 1) * 5e-7))


def test_csv_lists_layers_unmodeled_nodes_and_a_total_row(report):
    frame = pd.read_csv(io.StringIO(report.to_csv()))
    assert frame["layer_type"].tolist()[-3:] == ["run overhead", "unmodeled", "total"]
    assert frame.loc[frame["layer_type"] == "unmodeled", "note"].iloc[0] == "Lp pooling is not modeled"
    assert frame["power_w"].isna().all()
    total = frame[frame["name"] == "TOTAL"].iloc[0]
    assert total["runtime_ms"] == pytest.approx(frame.loc[frame["layer_type"].isin(
        ["convolutional", "pooling", "dense", "other", "run overhead"]), "runtime_ms"].sum())


def test_table_shows_totals_top_layers_and_unmodeled(report):
    text = report.to_table(top=2)
    assert f"power    {NOT_MEASURED}" in text
    assert f"top 2 of {len(report.layers)} layers by runtime" in text
    assert "modeled  100.0% of 221 kMACs" in text
    assert "lp_pool (LpPool): Lp pooling is not modeled" in text
    assert "batch    1 (assumed" in text


def test_markdown_and_html_are_complete_and_self_contained(report):
    markdown = report.to_markdown()
    assert markdown.startswith("# Estimate:") and "| runtime |" in markdown and NOT_MEASURED in markdown
    page = report.to_html()
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and page.count("<rect") == len(report.layers)
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in page
    assert "lp_pool" in page


def test_every_format_renders(report):
    for fmt in FORMATS:
        assert render(report, fmt).strip()
    with pytest.raises(ValueError, match="unknown format"):
        render(report, "xml")


def test_summary_has_one_line_per_model(report):
    text = render_summary([report, report], "csv")
    assert len(text.strip().splitlines()) == 3


def test_summary_table_marks_unmeasured_power(report):
    text = render_summary([report], "table")
    assert "n/m" in text and "None" not in text and NOT_MEASURED in text


def test_pipe_table_right_aligns_the_columns_from_numeric_from():
    assert pipe_table(["layer", "ms", "share"], [["conv", 1.5, "50%"], ["relu", 0.25, "8%"]], 1) == [
        "| layer | ms | share |", "|---|---:|---:|", "| conv | 1.5 | 50% |", "| relu | 0.25 | 8% |"]


# --------------------------------------------------------------------------- the renderer registry


def _fresh_python(code: str) -> str:
    """What `code` prints when run in a new interpreter (this one has long imported every renderer); it must exit 0."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_report_module_loads_no_renderer():
    printed = _fresh_python("import sys, estimator.predict.report\n"
                            "print(sorted(m for m in sys.modules if m.startswith('estimator.predict.render')))")
    assert printed.strip() == "[]"


def test_a_report_from_estimate_renders_in_a_fresh_process():
    """estimate() imports the render package, which registers what Report.to_json() and the like look up."""
    printed = _fresh_python("import json\nfrom estimator import estimate\nfrom estimator.testing import small_cnn\n"
                            "report = estimate(small_cnn(), profile='cpu-epyc-1thread', threads=1)\n"
                            "print(json.loads(report.to_json())['profile'], type(report.to_dict()).__name__, "
                            "report.to_markdown().split()[1], report._repr_html_().split('>')[0], sep='|')")
    assert printed.strip().split("|") == ["cpu-epyc-1thread", "dict", "Estimate:", '<div class="oce"']


def test_an_unregistered_view_is_a_clear_error_and_an_unknown_one_names_the_formats():
    printed = _fresh_python("from estimator.predict.formats import renderer\n"
                            "for view in ('json', 'yaml'):\n"
                            "    try:\n        renderer(view)\n"
                            "    except (LookupError, ValueError) as error:\n        print(type(error).__name__, error)")
    lookup, value = printed.splitlines()
    assert lookup.startswith("LookupError no renderer is registered for 'json': import estimator.predict.render")
    assert value == "ValueError unknown format 'yaml'; choose from table, csv, json, markdown, html"


def test_every_view_has_a_renderer_once_the_package_is_imported():
    import estimator.predict.render  # noqa: F401

    assert all(callable(renderer(view)) for view in VIEWS)
    assert set(VIEWS) >= set(FORMATS)
