"""Report -> a self-contained HTML page (inline SVG and CSS, nothing loaded), or a fragment for notebooks.

Headline totals with their intervals, the profile and its device, what makes the totals a lower
bound or an extrapolation, where the time goes (by layer type, op type and kernel when the report
has kernels), the top layers, the per-layer chart in graph order and every layer in a table.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pandas as pd

from estimator.predict.breakdown import (
    cost_by,
    device_note,
    is_lower_bound,
    model_title,
    run_overhead_ms,
    top_layers,
)
from estimator.predict.formats import DEFAULT_TOP
from estimator.predict.render.cells import html_text, interval_text, ms_text, percent_text
from estimator.predict.render.chart import layer_chart
from estimator.predict.render.common import NOT_MEASURED, data_dependent_text, lower_bound_text
from estimator.predict.render.html_parts import banner, card, fragment, group_table, legend, name_html, page

if TYPE_CHECKING:
    from estimator.predict.report import Report

__all__ = ["DEFAULT_TOP", "render_html", "render_html_fragment"]

SHOWN_COLUMNS = ("name", "op_type", "layer_type", "shape", "runtime_ms", "runtime_low_ms", "runtime_high_ms",
                 "power_w", "energy_mj", "runtime_share", "out_of_distribution")


def render_html(report: Report, top: int | None = DEFAULT_TOP) -> str:
    """The report as a self-contained page titled with the model's file name."""
    return page(f"Estimate: {model_title(report.model)}", _body(report, top))


def render_html_fragment(report: Report, top: int | None = DEFAULT_TOP) -> str:
    """The report as one styled <div>, for Jupyter (Report._repr_html_)."""
    return fragment(_body(report, top))


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _cell(value: object) -> str:
    """An extra column's value (e.g. a kernel's fused nodes) as escaped text."""
    if isinstance(value, (list, tuple)):
        return html_text(", ".join(str(v) for v in value))
    return "" if _missing(value) else html_text(value)


def _power(report: Report, value: float | None) -> str:
    return "n/m" if not report.power_measured or _missing(value) else f"{value:.2f}"


def _energy(report: Report, value: float | None) -> str:
    return "n/m" if not report.power_measured or _missing(value) else ms_text(value)


def _context(report: Report) -> str:
    totals = report.totals
    batch = f"batch {totals.batch_size}" + (" (assumed: the model's batch dimension is symbolic)"
                                            if totals.batch_size_assumed else "")
    inputs = ", ".join(f"{name} {'x'.join(map(str, shape))}" for name, shape in report.input_shapes.items())
    return (f'<p class="meta">profile <b>{html_text(report.profile_id)}</b>: {html_text(report.device)}</p>'
            f'<p class="meta">{html_text(batch)}{"; inputs " + html_text(inputs) if inputs else ""}</p>')


def _banners(report: Report) -> str:
    totals, parts = report.totals, []
    note = device_note(report)
    if note:
        parts.append(banner("warn", note))
    if is_lower_bound(report) and totals.nodes_unmodeled:
        ops = ", ".join(f"{op} x{n}" for op, n in totals.unmodeled_by_op.items())
        parts.append(banner("bad", f"Lower bound: {totals.nodes_unmodeled} node(s) are not modeled ({ops}); the totals "
                                   "leave their cost out (listed under Unmodeled nodes)."))
    if totals.lower_bound_reasons:
        parts.append(banner("bad", f"Lower bound: {lower_bound_text(report)} "
                                   f"({totals.macs_modeled_share * 100:.1f}% of the MACs modeled)."))
    if totals.data_dependent_layers:
        parts.append(banner("warn", f"Data-dependent: {data_dependent_text(report)}."))
    if totals.layers_out_of_distribution:
        parts.append(banner("warn", f"{totals.layers_out_of_distribution} layer(s) lie outside the profile's training "
                                    f"ranges (marked !), {percent_text(totals.runtime_share_out_of_distribution)} of "
                                    "the runtime: their estimates are extrapolations that stop growing past the "
                                    "largest measured layer."))
    if not report.power_measured:
        parts.append(banner("info", f"Power and energy: {NOT_MEASURED} (n/m)."))
    return "".join(parts)


def _cards(report: Report) -> str:
    totals = report.totals
    bound = "≥ " if is_lower_bound(report) else ""
    cards = [card("runtime", f"{bound}{ms_text(totals.runtime_ms)} ms",
                  f"80% interval {interval_text(totals.runtime_low_ms, totals.runtime_high_ms)} ms")]
    if report.power_measured and totals.power_w is not None:
        cards.append(card("power", f"{totals.power_w:.2f} W", "runtime-weighted mean"))
        cards.append(card("energy", f"{bound}{ms_text(totals.energy_mj)} mJ", "sum of layers"))
    else:
        cards += [card("power", "n/m", NOT_MEASURED), card("energy", "n/m", NOT_MEASURED)]
    cards.append(card("layers", f"{totals.nodes_modeled} modeled",
                      f"{totals.nodes_total} nodes: {totals.nodes_free} free, {totals.nodes_unmodeled} unmodeled"))
    overhead = run_overhead_ms(report)
    if overhead > 0:
        cards.append(card("run overhead", f"{ms_text(overhead)} ms", "per run, added to the sum of layers"))
    return f'<div class="cards">{"".join(cards)}</div>'


def _breakdowns(report: Report) -> str:
    energy = report.power_measured
    tables = [group_table(cost_by(report, "layer_type"), "By layer type", "layer type", energy, colored=True),
              group_table(cost_by(report, "op_type"), "By op type", "op type", energy)]
    if "kernel" in report.layers.columns:
        tables.append(group_table(cost_by(report, "kernel"), "By kernel (what the runtime executes)", "kernel", energy))
    return f'<h2>Where the time goes</h2><div class="grid">{"".join(tables)}</div>'


def _layer_rows(report: Report, layers: pd.DataFrame, extra: list[str], ranked: bool) -> str:
    rows = []
    for row in layers.to_dict("records"):
        flag = ' <span class="ood" title="outside the profile\'s training ranges">!</span>' \
            if row["out_of_distribution"] else ""
        rank = f'<td class="n">{row["position"]}</td>' if ranked else ""
        rows.append(
            f'<tr>{rank}<td class="name">{name_html(row["name"])}{flag}</td><td>{html_text(row["op_type"])}</td>'
            f'<td class="nw">{html_text(row["shape"])}</td>' + "".join(f"<td>{_cell(row.get(c))}</td>" for c in extra)
            + f'<td class="n">{ms_text(row["runtime_ms"])}</td>'
            f'<td class="n iv">{interval_text(row["runtime_low_ms"], row["runtime_high_ms"])}</td>'
            f'<td class="n">{percent_text(row["runtime_share"])}</td>'
            f'<td class="n">{_power(report, row["power_w"])}</td><td class="n">{_energy(report, row["energy_mj"])}</td></tr>')
    return "".join(rows)


def _layer_table(report: Report, layers: pd.DataFrame, ranked: bool) -> str:
    extra = [c for c in report.layers.columns if c not in SHOWN_COLUMNS]
    head = ("<th>#</th>" if ranked else "") + "<th>layer</th><th>op</th><th>shape</th>" \
        + "".join(f"<th>{html_text(c)}</th>" for c in extra) \
        + ('<th class="n">runtime (ms)</th><th class="n">80% interval</th><th class="n">share</th>'
           '<th class="n">power (W)</th><th class="n">energy (mJ)</th>')
    return f"<table><thead><tr>{head}</tr></thead><tbody>{_layer_rows(report, layers, extra, ranked)}</tbody></table>"


def _body(report: Report, top: int | None) -> str:
    layers = report.layers.reset_index(drop=True)
    shown = top_layers(report, top)
    top_title = "All layers by runtime" if len(shown) == len(layers) else f"Top {len(shown)} of {len(layers)} layers"
    unmodeled = "".join(f"<li><span class=\"name\">{name_html(n.name)}</span> ({html_text(n.op_type)}): "
                        f"{html_text(n.reason)}</li>" for n in report.unmodeled)
    types = list(dict.fromkeys(layers["layer_type"])) if len(layers) else []
    return (
        f"<h1>Estimate: {html_text(model_title(report.model))}</h1>{_context(report)}{_banners(report)}{_cards(report)}"
        + _breakdowns(report)
        + f"<h2>{html_text(top_title)} (# is the position in graph order)</h2>{_layer_table(report, shown, True)}"
        + (f'<h2 class="ood">Unmodeled nodes ({len(report.unmodeled)}), not in the totals</h2><ul>{unmodeled}</ul>'
           if report.unmodeled else "")
        + "<h2>Runtime per layer, in graph order</h2>"
        + f'{legend(types)}<p class="meta">whiskers: 80% interval; red outline and !: outside the training ranges; '
          "hover a row for its full name</p>"
        + f'<div class="chart">{layer_chart(layers)}</div>'
        + f"<details><summary>All {len(layers)} layers in graph order (table)</summary>"
          f"{_layer_table(report, layers.assign(position=range(1, len(layers) + 1)), False)}</details>"
        + f'<p class="foot">composition: {html_text(report.composition)}. Self-contained page: nothing is loaded '
          "from the network.</p>"
    )
