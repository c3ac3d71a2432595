"""Several reports -> one self-contained HTML page comparing them side by side, cheapest first.

A stacked bar per model (runtime by layer type, with the total's 80% interval), the totals table,
and runtime (and energy, where measured) by layer type with a column per model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from estimator.predict.breakdown import side_by_side
from estimator.predict.render.cells import html_text, interval_text, ms_text, percent_text, ratio_text
from estimator.predict.render.chart import StackedRow, stacked_chart
from estimator.predict.render.common import NOT_MEASURED
from estimator.predict.render.html_parts import banner, fragment, legend, page

if TYPE_CHECKING:
    from estimator.predict.report import Report

__all__ = ["render_comparison_html", "render_comparison_html_fragment"]


def render_comparison_html(reports: Sequence[Report]) -> str:
    """A self-contained page comparing the reports' models."""
    return page(f"Comparison of {len(reports)} models", _body(reports))


def render_comparison_html_fragment(reports: Sequence[Report]) -> str:
    """The comparison as one styled <div>, for Jupyter (Comparison._repr_html_)."""
    return fragment(_body(reports))


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _context(totals: pd.DataFrame) -> str:
    lines = []
    if totals["profile"].nunique() == 1:
        lines.append(f"profile <b>{html_text(totals['profile'].iloc[0])}</b>: {html_text(totals['device'].iloc[0])}")
    if totals["batch_size"].nunique() == 1:
        assumed = " (assumed: a batch dimension is symbolic)" if totals["batch_size_assumed"].any() else ""
        lines.append(html_text(f"batch {totals['batch_size'].iloc[0]}{assumed}"))
    return "".join(f'<p class="meta">{line}</p>' for line in lines)


def _banners(totals: pd.DataFrame) -> str:
    parts = [banner("warn", note) for note in totals["device_note"].dropna().unique()]
    bounded = totals[totals["lower_bound"]]
    if len(bounded):
        which = "; ".join(f"{row.title} ({', '.join(f'{op} x{n}' for op, n in row.unmodeled_by_op.items())})"
                          for row in bounded.itertuples(index=False))
        parts.append(banner("bad", f"Lower bound (marked ≥): unmodeled nodes are left out of the totals of {which}."))
    outside = totals[totals["out_of_distribution"] > 0]
    if len(outside):
        which = ", ".join(f"{row.title} ({row.out_of_distribution})" for row in outside.itertuples(index=False))
        parts.append(banner("warn", f"Layers outside the profile's training ranges (extrapolated): {which}."))
    if not totals["power_measured"].all():
        parts.append(banner("info", f"Power and energy: {NOT_MEASURED} (n/m)."))
    return "".join(parts)


def _verdict(totals: pd.DataFrame) -> str:
    """One sentence: the cheapest model, how far the next one is, and whether the intervals make it uncertain."""
    if len(totals) < 2:
        return ""
    first, second = totals.iloc[0], totals.iloc[1]
    sentence = (f"Fastest: {first['title']}, {ms_text(first['runtime_ms'])} ms; next: {second['title']}, "
                f"{ms_text(second['runtime_ms'])} ms" + (f", {ratio_text(second['runtime_vs_fastest'])} as long."
                                                          if ratio_text(second["runtime_vs_fastest"]) else "."))
    if second["runtime_low_ms"] <= first["runtime_high_ms"]:
        sentence += " Their 80% intervals overlap, so this order is uncertain."
    return f'<p class="meta"><b>{html_text(sentence)}</b></p>'


def _chart(totals: pd.DataFrame, by_type: pd.DataFrame, groups: list[str]) -> str:
    rows = []
    for row in totals.itertuples(index=False):
        mine = by_type[by_type["title"] == row.title]
        parts = [(part.layer_type, float(part.runtime_ms)) for part in mine.itertuples(index=False)]
        bound = "≥ " if row.lower_bound else ""
        tip = f"{row.title}\n{bound}{ms_text(row.runtime_ms)} ms " \
              f"(80% interval {interval_text(row.runtime_low_ms, row.runtime_high_ms)})\n" \
            + "\n".join(f"{part.layer_type}: {ms_text(part.runtime_ms)} ms ({percent_text(part.runtime_share)})"
                        for part in mine.itertuples(index=False))
        rows.append(StackedRow(row.title, parts, row.runtime_ms, row.runtime_low_ms, row.runtime_high_ms,
                               f"{bound}{ms_text(row.runtime_ms)} ms  {ratio_text(row.runtime_vs_fastest)}".rstrip(), tip,
                               bool(row.lower_bound)))
    return f'{legend(groups)}<div class="chart">{stacked_chart(rows, groups)}</div>'


def _totals_table(totals: pd.DataFrame) -> str:
    profiles_differ = totals["profile"].nunique() > 1
    batches_differ = totals["batch_size"].nunique() > 1
    energy_ratio = totals["energy_vs_lowest"].notna().any()
    head = ["model", *(["profile"] if profiles_differ else []), *(["batch"] if batches_differ else []),
            "runtime (ms)", "80% interval", "vs fastest", "power (W)", "energy (mJ)",
            *(["vs lowest energy"] if energy_ratio else []), "layers", "unmodeled", "outside ranges"]
    rows = []
    for row in totals.itertuples(index=False):
        bound = "≥ " if row.lower_bound else ""
        measured = row.power_measured and not _missing(row.power_w)
        cells = [f'<td class="name">{html_text(row.title)}</td>',
                 *([f"<td>{html_text(row.profile)}</td>"] if profiles_differ else []),
                 *([f'<td class="n">{row.batch_size}</td>'] if batches_differ else []),
                 f'<td class="n">{bound}{ms_text(row.runtime_ms)}</td>',
                 f'<td class="n iv">{interval_text(row.runtime_low_ms, row.runtime_high_ms)}</td>',
                 f'<td class="n">{ratio_text(row.runtime_vs_fastest)}</td>',
                 f'<td class="n">{f"{row.power_w:.2f}" if measured else "n/m"}</td>',
                 f'<td class="n">{bound + ms_text(row.energy_mj) if measured else "n/m"}</td>',
                 *([f'<td class="n">{ratio_text(row.energy_vs_lowest)}</td>']
                   if energy_ratio else []),
                 f'<td class="n">{row.layers}</td>',
                 f'<td class="n{" ood" if row.unmodeled else ""}">{row.unmodeled}</td>',
                 f'<td class="n{" ood" if row.out_of_distribution else ""}">{row.out_of_distribution}</td>']
        rows.append(f"<tr>{''.join(cells)}</tr>")
    header = "".join(f'<th{"" if i == 0 else " class=n"}>{html_text(h)}</th>' for i, h in enumerate(head))
    return f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _by_type_table(totals: pd.DataFrame, by_type: pd.DataFrame, groups: list[str], energy: bool) -> str:
    titles = list(totals["title"])
    cells: dict[tuple[str, str], str] = {}
    for part in by_type.itertuples(index=False):
        if energy:
            text = "n/m" if _missing(part.energy_mj) else ms_text(part.energy_mj)
        else:
            text = f"{ms_text(part.runtime_ms)} <span class=\"meta\">({percent_text(part.runtime_share)})</span>"
        cells[(part.layer_type, part.title)] = text
    header = "<th>layer type</th>" + "".join(f'<th class="name r">{html_text(t)}</th>' for t in titles)
    rows = "".join(f"<tr><td>{html_text(group)}</td>"
                   + "".join(f'<td class="n">{cells.get((group, t), "")}</td>' for t in titles) + "</tr>"
                   for group in groups)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>"


def _body(reports: Sequence[Report]) -> str:
    totals, by_type = side_by_side(reports)
    groups = list(dict.fromkeys(by_type["layer_type"]))
    energy = bool(totals["power_measured"].any())
    return (
        f"<h1>Comparison of {len(totals)} models</h1>{_context(totals)}{_banners(totals)}{_verdict(totals)}"
        + "<h2>Runtime, cheapest first</h2>"
        + '<p class="meta">stacked by layer type; whiskers: 80% interval of the total; hover a row for the figures</p>'
        + _chart(totals, by_type, groups)
        + f"<h2>Totals</h2>{_totals_table(totals)}"
        + "<h2>Runtime by layer type (ms, share of the model's runtime)</h2>"
        + _by_type_table(totals, by_type, groups, energy=False)
        + (f"<h2>Energy by layer type (mJ)</h2>{_by_type_table(totals, by_type, groups, energy=True)}" if energy else "")
        + '<p class="foot">Self-contained page: nothing is loaded from the network.</p>'
    )
