"""Several reports -> their comparison as a terminal table, CSV, JSON or Markdown (HTML: compare_html).

Models come cheapest first, with their totals, 80% intervals, runtime relative to the fastest, and
runtime (and energy, where measured) by layer type.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from estimator.predict.breakdown import side_by_side
from estimator.predict.render.cells import (
    csv_text,
    interval_text,
    markdown_code,
    ms_text,
    percent_text,
    pipe_table,
    ratio_text,
    terminal_text,
)
from estimator.predict.render.common import NOT_MEASURED
from estimator.predict.render.compare_html import render_comparison_html

if TYPE_CHECKING:
    from estimator.predict.report import Report

__all__ = ["comparison_dict", "render_summary"]

LOWER_BOUND_NOTE = ("≥: some nodes are not modeled, or the profile has no training data for some of the compute, so "
                    "the totals leave their cost out (a lower bound; see each report's reasons)")


def _round(value: object, digits: int) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), digits)


def _ops_text(by_op: dict[str, int]) -> str:
    return ", ".join(f"{op} x{count}" for op, count in by_op.items())


def comparison_dict(reports: Sequence[Report]) -> list[dict[str, object]]:
    """One JSON object per model, cheapest first (the keys of the one-line summary come first)."""
    totals, by_type = side_by_side(reports)
    document = []
    for row in totals.itertuples(index=False):
        mine = by_type[by_type["title"] == row.title]
        document.append({
            "model": row.model,
            "batch_size": row.batch_size,
            "runtime_ms": _round(row.runtime_ms, 6),
            "power_w": _round(row.power_w, 4),
            "energy_mj": _round(row.energy_mj, 6),
            "layers": row.layers,
            "unmodeled": row.unmodeled,
            "out_of_distribution": row.out_of_distribution,
            "title": row.title,
            "profile": row.profile,
            "device": row.device,
            "device_note": row.device_note,
            "batch_size_assumed": row.batch_size_assumed,
            "runtime_low_ms": _round(row.runtime_low_ms, 6),
            "runtime_high_ms": _round(row.runtime_high_ms, 6),
            "runtime_vs_fastest": _round(row.runtime_vs_fastest, 3),
            "energy_vs_lowest": _round(row.energy_vs_lowest, 3),
            "power_note": None if row.power_measured else NOT_MEASURED,
            "lower_bound": row.lower_bound,
            "lower_bound_reasons": row.lower_bound_reasons,
            "macs_modeled_share": _round(row.macs_modeled_share, 4),
            "unmodeled_by_op": row.unmodeled_by_op,
            "by_layer_type": {
                part.layer_type: {
                    "layers": part.layers,
                    "runtime_ms": _round(part.runtime_ms, 6),
                    "runtime_low_ms": _round(part.runtime_low_ms, 6),
                    "runtime_high_ms": _round(part.runtime_high_ms, 6),
                    "runtime_share": _round(part.runtime_share, 4),
                    "energy_mj": _round(part.energy_mj, 6),
                } for part in mine.itertuples(index=False)
            },
        })
    return document


def _csv(reports: Sequence[Report]) -> str:
    """One row per model: the summary's columns, then intervals and ratios, then one column group per layer type."""
    totals, by_type = side_by_side(reports)
    measured = bool(totals["power_measured"].any()) if not totals.empty else False
    rows = []
    for row in totals.itertuples(index=False):
        line: dict[str, object] = {
            "model": csv_text(row.model), "batch_size": row.batch_size, "runtime_ms": _round(row.runtime_ms, 6),
            "power_w": _round(row.power_w, 4), "energy_mj": _round(row.energy_mj, 6), "layers": row.layers,
            "unmodeled": row.unmodeled, "out_of_distribution": row.out_of_distribution,
            "runtime_low_ms": _round(row.runtime_low_ms, 6), "runtime_high_ms": _round(row.runtime_high_ms, 6),
            "runtime_vs_fastest": _round(row.runtime_vs_fastest, 3), "energy_vs_lowest": _round(row.energy_vs_lowest, 3),
            "lower_bound": row.lower_bound, "unmodeled_ops": csv_text(_ops_text(row.unmodeled_by_op)),
            "macs_modeled_share": _round(row.macs_modeled_share, 4),
            "profile": csv_text(row.profile), "note": "" if row.power_measured else f"power and energy {NOT_MEASURED}",
        }
        for part in by_type[by_type["title"] == row.title].itertuples(index=False):
            key = str(part.layer_type).replace(" ", "_")
            line[f"{key}_runtime_ms"] = _round(part.runtime_ms, 6)
            line[f"{key}_runtime_share"] = _round(part.runtime_share, 4)
            if measured:
                line[f"{key}_energy_mj"] = _round(part.energy_mj, 6)
        rows.append(line)
    return pd.DataFrame(rows).to_csv(index=False, lineterminator="\n")


def _context_lines(totals: pd.DataFrame) -> list[str]:
    """Profile, batch and device notes: one line each when all models share them."""
    lines = []
    for column, label in (("profile", "profile"), ("batch_size", "batch")):
        values = totals[column].unique()
        if len(values) == 1:
            text = f"{values[0]} ({totals['device'].iloc[0]})" if column == "profile" else str(values[0])
            if column == "batch_size" and totals["batch_size_assumed"].any():
                text += " (assumed: a batch dimension is symbolic)"
            lines.append(f"{label}: {text}")
    lines += [f"note: {note}" for note in totals["device_note"].dropna().unique()]
    return lines


def _runtime_cell(row) -> str:
    return ("≥ " if row.lower_bound else "") + ms_text(row.runtime_ms)


def _power_cells(row) -> tuple[str, str]:
    if not row.power_measured or row.power_w is None:
        return "n/m", "n/m"
    return f"{row.power_w:.2f}", ("≥ " if row.lower_bound else "") + ms_text(row.energy_mj)


def _wide_by_type(by_type: pd.DataFrame, titles: list[str], text) -> pd.DataFrame:
    """Rows: layer types (ordered as given); columns: models; cells: text(part)."""
    cells: dict[str, dict[str, str]] = {}
    for part in by_type.itertuples(index=False):
        cells.setdefault(part.layer_type, dict.fromkeys(titles, ""))[part.title] = text(part)
    return pd.DataFrame([{"layer type": t, **row} for t, row in cells.items()], columns=["layer type", *titles])


def _summary_frames(reports: Sequence[Report], escape) -> tuple[pd.DataFrame, list[pd.DataFrame], pd.DataFrame]:
    """The shown totals, the by-layer-type tables (runtime, then energy when measured) and the raw totals."""
    totals, by_type = side_by_side(reports)
    titles = [escape(t) for t in totals["title"]]
    by_type = by_type.assign(title=[escape(t) for t in by_type["title"]])
    shown = []
    for title, row in zip(titles, totals.itertuples(index=False), strict=True):
        power, energy = _power_cells(row)
        shown.append({"model": title, "runtime ms": _runtime_cell(row),
                      "80% interval": interval_text(row.runtime_low_ms, row.runtime_high_ms),
                      "vs fastest": ratio_text(row.runtime_vs_fastest), "power W": power, "energy mJ": energy,
                      "layers": row.layers, "unmodeled": row.unmodeled, "outside ranges": row.out_of_distribution})
    tables = [_wide_by_type(by_type, titles,
                            lambda p: f"{ms_text(p.runtime_ms)} ({percent_text(p.runtime_share)})")]
    if bool(totals["power_measured"].any()):
        tables.append(_wide_by_type(by_type, titles,
                                    lambda p: "n/m" if p.energy_mj is None else ms_text(p.energy_mj)))
    return pd.DataFrame(shown), tables, totals


def _notes(totals: pd.DataFrame) -> list[str]:
    notes = []
    if totals["lower_bound"].any():
        notes.append(LOWER_BOUND_NOTE)
    if not totals["power_measured"].all():
        notes.append(f"n/m: power and energy {NOT_MEASURED}")
    return notes


def _table(reports: Sequence[Report]) -> str:
    shown, tables, totals = _summary_frames(reports, terminal_text)
    lines = _context_lines(totals.assign(device=totals["device"].map(terminal_text)))
    lines += ["", "models, cheapest first:", shown.to_string(index=False)]
    titles = ("runtime by layer type (ms, share of the model's runtime):", "energy by layer type (mJ):")
    for title, table in zip(titles, tables, strict=False):
        lines += ["", title, table.to_string(index=False)]
    notes = _notes(totals)
    return "\n".join(lines) + "\n" + ("\n" + "\n".join(notes) + "\n" if notes else "")


def _markdown(reports: Sequence[Report]) -> str:
    shown, tables, totals = _summary_frames(reports, markdown_code)
    out = [f"# Comparison of {len(totals)} models", ""]
    out += [line.replace("|", "\\|") + "  " for line in _context_lines(totals.assign(device=totals["device"].map(terminal_text)))]
    out += ["", "Cheapest first; intervals are 80%.", ""]
    shown = shown.rename(columns={"runtime ms": "runtime (ms)", "power W": "power (W)", "energy mJ": "energy (mJ)"})
    out += pipe_table(shown.columns, shown.itertuples(index=False), 1)
    titles = ("## Runtime by layer type (ms, share of the model's runtime)", "## Energy by layer type (mJ)")
    for title, table in zip(titles, tables, strict=False):
        out += ["", title, "", *pipe_table(table.columns, table.itertuples(index=False), 1)]
    notes = _notes(totals)
    if notes:
        out += [""] + [f"- {note}" for note in notes]
    return "\n".join(out) + "\n"


def render_summary(reports: Sequence[Report], fmt: str) -> str:
    """Several models compared, cheapest first: a terminal table, CSV, JSON, Markdown or HTML."""
    if fmt == "json":
        return json.dumps(comparison_dict(reports), indent=2) + "\n"
    if fmt == "csv":
        return _csv(reports)
    if fmt == "markdown":
        return _markdown(reports)
    if fmt == "html":
        return render_comparison_html(reports)
    return _table(reports)
