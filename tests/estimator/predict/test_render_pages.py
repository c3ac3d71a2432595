"""The HTML pages (one model, several models), notebooks' _repr_html_, and the comparison in every format,
on hand-made reports (exact figures) and a real estimate."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import types

import pandas as pd
import pytest

from estimator import compare, estimate
from estimator.predict.formats import FORMATS
from estimator.predict.render import render_summary
from estimator.predict.render.common import NOT_MEASURED
from estimator.testing import small_cnn
from tests.estimator_fixtures import hand_report


def _external_urls(page: str) -> list[str]:
    return [url for url in re.findall(r"(?:https?:)?//[^\s\"'<>)]+", page) if url != "http://www.w3.org/2000/svg"]


def _with(report, **extra):
    """The report with attributes a newer Report may carry (e.g. device_note), as a stand-in object."""
    fields = {f.name: getattr(report, f.name) for f in dataclasses.fields(report)}
    return types.SimpleNamespace(**{**fields, **extra})


@pytest.fixture(scope="module")
def real():
    return estimate(small_cnn(with_unmodeled=True))


def test_page_is_titled_with_the_file_name_not_the_path():
    page = hand_report("/home/someone/models/net.onnx").to_html()
    assert "<title>Estimate: net.onnx</title>" in page and "<h1>Estimate: net.onnx</h1>" in page
    assert "/home/someone" not in page


def test_page_shows_totals_with_intervals_and_where_the_time_goes():
    page = hand_report().to_html()
    assert "4.000 ms" in page and "80% interval 3.200–4.800 ms" in page and "10.00 W" in page
    assert "By layer type" in page and "By op type" in page and "By kernel" not in page
    convolutional = re.search(r"<tr><td>convolutional</td>(.*?)</tr>", page).group(1)
    assert ">2<" in convolutional and ">3.000<" in convolutional and "2.300–3.700" in convolutional
    assert "75.0%" in convolutional and ">30.00<" in convolutional  # energy, measured


def test_lower_bound_and_out_of_distribution_cannot_be_missed():
    page = hand_report().to_html()
    assert 'class="banner bad"' in page and "Lower bound: 1 node(s) are not modeled (ConvTranspose x1)" in page
    assert "≥ 4.000 ms" in page
    assert "1 layer(s) lie outside the profile&#x27;s training ranges" in page
    assert page.count('stroke="#c62828"') == 1  # conv2's bar, outlined
    assert "Lower bound" not in hand_report(unmodeled=False).to_html()


def test_chart_has_a_bar_and_a_whisker_per_layer_in_graph_order_with_full_names_on_hover():
    report = hand_report()
    page = report.to_html()
    chart = page[page.index("<svg"):page.index("</svg>")]
    assert chart.count("<rect") == len(report.layers) == chart.count('<g class="row">')
    assert chart.count("<title>") == len(report.layers)
    labels = re.findall(r'<text class="label"[^>]*>([^<]*)</text>', chart)
    assert labels == ["/m.0/conv1/Conv", "/m.0/relu1/Relu", "/m.1/conv2/Conv", "/fc/Gemm"]
    assert "<title>/m/m.0/conv1/Conv\nConv · 3x8x8-&gt;4x8x8 k3x3 s1\n2.000 ms (80% interval 1.500–2.500)" in chart


def test_page_is_self_contained_and_forbids_loading_anything():
    page = hand_report().to_html()
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert not _external_urls(page) and "<script" not in page and "<link" not in page


def test_everything_printed_is_escaped():
    report = hand_report("/tmp/<b>x</b>.onnx")
    layers = report.layers.copy()
    layers.loc[0, "name"] = '<img src="http://evil.invalid/x.png" onerror=alert(1)>'
    layers.loc[1, "op_type"] = "<script>alert(1)</script>"
    page = dataclasses.replace(report, layers=layers, device="<i>dev</i>").to_html()
    assert "<img" not in page and "<script" not in page and "<b>x" not in page and "<i>dev" not in page
    assert "&lt;img src=&quot;http://evil.invalid/x.png&quot;" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_extra_columns_lines_and_kernels_show_when_present():
    report = hand_report()
    layers = report.layers.assign(kernel=["FusedConv", "FusedConv", "Conv", "Gemm"],
                                  fused_nodes=[("conv1", "relu1"), ("conv1", "relu1"), ("conv2",), ("fc",)])
    totals = types.SimpleNamespace(**dataclasses.asdict(report.totals))
    totals.run_overhead_ms, totals.runtime_ms = 0.25, 4.25
    page = dataclasses.replace(report, layers=layers).to_html()
    assert "By kernel (what the runtime executes)" in page and "<th>fused_nodes</th>" in page
    assert "<td>conv1, relu1</td>" in page
    noted = _with(dataclasses.replace(report, layers=layers), totals=totals,
                  device_note="profile measured on another machine; run estimate-calibrate")
    from estimator.predict.render.html import render_html

    page = render_html(noted)
    assert 'class="banner warn"' in page and "profile measured on another machine" in page
    assert "run overhead" in page and "0.2500 ms" in page


def test_repr_html_is_a_fragment_with_scoped_styles(real):
    fragment = real._repr_html_()
    assert fragment.startswith('<div class="oce"><style>') and fragment.endswith("</div>")
    assert "<html" not in fragment and "<body" not in fragment
    styles = fragment[fragment.index("<style>") + 7:fragment.index("</style>")]
    selectors = [rule.split("{")[0].strip() for rule in styles.split("}") if "{" in rule]
    assert selectors and all(s.startswith(".oce") for s in selectors)
    assert compare([real, real])._repr_html_().startswith('<div class="oce">')


def test_comparison_page_puts_the_cheapest_first():
    slow, fast = hand_report("/m/slow.onnx", runtime_scale=2.0), hand_report("/m/fast.onnx", unmodeled=False)
    page = compare([slow, fast]).to_html()
    assert "<title>Comparison of 2 models</title>" in page and "/m/" not in page
    chart = page[page.index("<svg"):page.index("</svg>")]
    assert re.findall(r'<text class="label"[^>]*>([^<]*)</text>', chart) == ["fast.onnx", "slow.onnx"]
    assert chart.count("<rect") == 6  # three layer types stacked per model
    assert "Fastest: fast.onnx, 4.000 ms; next: slow.onnx, 8.000 ms, 2.00x as long." in page
    assert "Lower bound (marked ≥): unmodeled nodes are left out of the totals of slow.onnx (ConvTranspose x1)" in page
    assert "Energy by layer type (mJ)" in page and not _external_urls(page)


def test_comparison_in_every_format_puts_the_cheapest_first(real):
    slow, fast = hand_report("/m/slow.onnx", runtime_scale=2.0), hand_report("/m/fast.onnx", unmodeled=False)
    for fmt in FORMATS:
        text = render_summary([slow, fast], fmt)
        text = text[text.index("<svg"):] if fmt == "html" else text  # the page's banners name slow.onnx first
        assert text.index("fast.onnx") < text.index("slow.onnx"), fmt
    frame = pd.read_csv(io.StringIO(render_summary([slow, fast], "csv")))
    assert frame["model"].tolist() == ["/m/fast.onnx", "/m/slow.onnx"]
    assert frame["runtime_low_ms"].tolist() == [3.2, 6.4] and frame["runtime_vs_fastest"].tolist() == [1.0, 2.0]
    assert frame["convolutional_runtime_ms"].tolist() == [3.0, 6.0] and frame["dense_energy_mj"].tolist() == [6.0, 12.0]
    document = json.loads(render_summary([slow, fast], "json"))
    assert document[1]["lower_bound"] is True and document[1]["unmodeled_by_op"] == {"ConvTranspose": 1}
    assert document[0]["by_layer_type"]["convolutional"] == {
        "layers": 2, "runtime_ms": 3.0, "runtime_low_ms": 2.3, "runtime_high_ms": 3.7, "runtime_share": 0.75,
        "energy_mj": 30.0}
    markdown = render_summary([slow, fast], "markdown")
    assert "| `fast.onnx` | 4.000 | 3.200–4.800 | 1.00x | 10.00 | 40.00 |" in markdown
    assert "| `slow.onnx` | ≥ 8.000 |" in markdown and "## Runtime by layer type" in markdown
    assert "| convolutional | 3.000 (75.0%) | 6.000 (75.0%) |" in markdown
    assert compare([real]).to_table().count(NOT_MEASURED) == 1


def test_comparison_escapes_names_in_every_format():
    hostile = hand_report("/m/=cmd|x`y\x1b[31m<b>.onnx")
    page = compare([hostile]).to_html()
    assert "<b>.onnx" not in page and "&lt;b&gt;.onnx" in page and "\x1b" not in page
    assert "\x1b" not in compare([hostile]).to_table()
    assert "| `` =cmd\\|x`y?[31m<b>.onnx `` |" in compare([hostile]).to_markdown()
    assert pd.read_csv(io.StringIO(compare([hand_report("=1+1.onnx")]).to_csv()))["model"][0] == "'=1+1.onnx"


def test_a_zero_ms_model_gives_no_ratio_in_any_format():
    report = hand_report()
    empty = dataclasses.replace(report, layers=report.layers.iloc[0:0], totals=dataclasses.replace(
        report.totals, runtime_ms=0.0, runtime_low_ms=0.0, runtime_high_ms=0.0, energy_mj=0.0))
    for fmt in FORMATS:
        assert "x as long" not in render_summary([empty, report], fmt)
    assert json.loads(render_summary([empty, report], "json"))[1]["runtime_vs_fastest"] is None


def test_compare_needs_a_report():
    with pytest.raises(ValueError, match="at least one report"):
        compare([])
