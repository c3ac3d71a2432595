"""A Curve -> terminal table, CSV, JSON (one object per point), Markdown or a self-contained HTML page with
charts of runtime per sample, throughput and (where measured) energy per sample over the swept values."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pandas as pd

from estimator.predict.breakdown import is_lower_bound, model_title
from estimator.predict.render.cells import html_text, interval_text, markdown_code, ms_text, pipe_table, terminal_text
from estimator.predict.render.chart import line_chart
from estimator.predict.render.common import NOT_MEASURED, number
from estimator.predict.render.escape import csv_frame, markdown_text
from estimator.predict.render.html_parts import banner, fragment, page

if TYPE_CHECKING:
    from estimator.predict.curve import Curve, CurvePoint

__all__ = ["curve_dict", "render_curve", "render_curve_html", "render_curve_html_fragment"]

UNMEASURED = "not measured"  # the cell of an energy or power column when the profile has no power models


def curve_dict(curve: Curve) -> list[dict[str, object]]:
    """One JSON object per point, in the curve's order: the swept value, its batch size, totals and per-sample figures."""
    return [_point_dict(curve, point) for point in curve.points]


def _point_dict(curve: Curve, point: CurvePoint) -> dict[str, object]:
    report, totals = point.report, point.totals
    return {
        "model": report.model,
        "dimension": curve.dimension,
        "value": point.value,
        "batch_size": point.batch_size,
        "runtime_ms": number(totals.runtime_ms, 6),
        "runtime_low_ms": number(totals.runtime_low_ms, 6),
        "runtime_high_ms": number(totals.runtime_high_ms, 6),
        "runtime_per_sample_ms": number(point.runtime_per_sample_ms, 6),
        "throughput_samples_per_s": number(point.throughput_samples_per_s, 3),
        "power_w": number(totals.power_w, 4),
        "energy_mj": number(totals.energy_mj, 6),
        "energy_per_sample_mj": number(point.energy_per_sample_mj, 6),
        "power_note": None if report.power_measured else NOT_MEASURED,
        "lower_bound": is_lower_bound(report),
        "lower_bound_reasons": list(totals.lower_bound_reasons),
        "macs_modeled_share": number(totals.macs_modeled_share, 6),
        "layers_out_of_distribution": totals.layers_out_of_distribution,
        "runtime_share_out_of_distribution": number(totals.runtime_share_out_of_distribution, 6),
        "batch_size_assumed": totals.batch_size_assumed,
        "input_shapes": {name: list(shape) for name, shape in report.input_shapes.items()},
        "profile": report.profile_id,
        "device": report.device,
        "device_note": report.device_note,
    }


def render_curve(curve: Curve, fmt: str) -> str:
    """The curve as a terminal table, CSV, JSON, Markdown or HTML page."""
    if fmt == "json":
        return json.dumps(curve_dict(curve), indent=2) + "\n"
    if fmt == "csv":
        return _csv(curve)
    if fmt == "markdown":
        return _markdown(curve)
    if fmt == "html":
        return render_curve_html(curve)
    return _table(curve)


def _csv(curve: Curve) -> str:
    rows = []
    for point in curve_dict(curve):
        shapes = point.pop("input_shapes")
        point["input_shapes"] = ";".join(f"{name}={'x'.join(map(str, dims))}" for name, dims in shapes.items())
        point["lower_bound_reasons"] = "; ".join(point["lower_bound_reasons"])
        note = point.pop("power_note")
        point["note"] = f"power and energy {note}" if note else ""
        rows.append(point)
    return csv_frame(pd.DataFrame(rows)).to_csv(index=False, lineterminator="\n")


def _swept_label(curve: Curve) -> str:
    return "batch size" if curve.sweeps_batch else curve.dimension


def _shown(curve: Curve) -> pd.DataFrame:
    """The table every text format shows: one row per point, formatted (≥ marks a lower bound)."""
    rows = []
    for point in curve.points:
        totals, measured = point.totals, point.report.power_measured
        bound = "≥ " if is_lower_bound(point.report) else ""
        batch = point.batch_size
        row = {_swept_label(curve): point.value, **({} if curve.sweeps_batch else {"batch size": batch}),
               "runtime ms": bound + ms_text(totals.runtime_ms),
               "80% interval": interval_text(totals.runtime_low_ms, totals.runtime_high_ms),
               "ms/sample": bound + ms_text(point.runtime_per_sample_ms),
               "samples/s": ms_text(point.throughput_samples_per_s),
               "power W": f"{totals.power_w:.2f}" if measured and totals.power_w is not None else UNMEASURED,
               "energy mJ": bound + ms_text(totals.energy_mj) if measured else UNMEASURED,
               "mJ/sample": bound + ms_text(point.energy_per_sample_mj) if measured else UNMEASURED,
               "outside ranges": totals.layers_out_of_distribution}
        rows.append(row)
    return pd.DataFrame(rows)


def _context(curve: Curve) -> list[str]:
    """Model, profile, what is swept, and the device note (as plain text; each format escapes it)."""
    first = curve.points[0].report
    batches = ", ".join(str(batch) for batch in sorted({point.batch_size for point in curve.points}))
    sweep = "batch size" if curve.sweeps_batch else f"symbolic dimension {curve.dimension!r} (batch {batches})"
    return [f"model: {first.model}", f"profile: {first.profile_id} ({first.device})", f"swept: {sweep}",
            *([f"note: {first.device_note}"] if first.device_note else [])]


def _notes(curve: Curve) -> list[tuple[str, str]]:
    """(kind: bad, warn or info, text) of what the figures leave out or extrapolate."""
    notes = []
    reasons = list(dict.fromkeys(reason for point in curve.points for reason in point.totals.lower_bound_reasons))
    if any(is_lower_bound(point.report) for point in curve.points):
        notes.append(("bad", "≥: a lower bound: " + ("; ".join(reasons) if reasons else "some nodes are not modeled")))
    if any(point.totals.layers_out_of_distribution for point in curve.points):
        notes.append(("warn", "outside ranges: layers outside the profile's training ranges, whose runtimes are "
                              "extrapolated"))
    if not curve.power_measured:
        notes.append(("info", f"{UNMEASURED}: power and energy {NOT_MEASURED}"))
    return notes


def _table(curve: Curve) -> str:
    lines = [terminal_text(line) for line in _context(curve)]
    lines += ["", _shown(curve).to_string(index=False)]
    notes = [terminal_text(note) for _, note in _notes(curve)]
    return "\n".join(lines) + "\n" + ("\n" + "\n".join(notes) + "\n" if notes else "")


def _markdown(curve: Curve) -> str:
    first = curve.points[0].report
    shown = _shown(curve)
    out = [f"# Curve: {markdown_code(model_title(first.model))} over {markdown_text(_swept_label(curve))}", ""]
    out += [markdown_text(line) + "  " for line in _context(curve)[1:]]
    out += ["", *pipe_table([markdown_text(c) for c in shown.columns],
                            ([markdown_text(v) for v in row] for row in shown.itertuples(index=False)))]
    notes = _notes(curve)
    if notes:
        out += [""] + [f"- {markdown_text(note)}" for _, note in notes]
    return "\n".join(out) + "\n"


def render_curve_html(curve: Curve) -> str:
    """A self-contained page: the curve's charts and its table."""
    first = curve.points[0].report
    return page(f"Curve: {model_title(first.model)} over {_swept_label(curve)}", _body(curve))


def render_curve_html_fragment(curve: Curve) -> str:
    """The curve as one styled <div>, for Jupyter (Curve._repr_html_)."""
    return fragment(_body(curve))


def _charts(curve: Curve) -> str:
    labels = [str(point.value) for point in curve.points]
    per_sample = [(point.totals.runtime_low_ms / point.batch_size, point.totals.runtime_high_ms / point.batch_size)
                  for point in curve.points]
    charts = [("Runtime per sample", "ms", [p.runtime_per_sample_ms for p in curve.points],
               [low for low, _ in per_sample], [high for _, high in per_sample]),
              ("Throughput", "samples/s", [p.throughput_samples_per_s or float("nan") for p in curve.points], None, None)]
    if curve.power_measured:
        charts.append(("Energy per sample", "mJ", [p.energy_per_sample_mj for p in curve.points], None, None))
    return '<div class="grid">' + "".join(
        f'<div><h3>{html_text(title)} ({html_text(unit)}) by {html_text(_swept_label(curve))}</h3>'
        f'<div class="chart">{line_chart(labels, values, title, unit, _swept_label(curve), lows, highs)}</div></div>'
        for title, unit, values, lows, highs in charts) + "</div>"


def _body(curve: Curve) -> str:
    first = curve.points[0].report
    context = "".join(f'<p class="meta">{html_text(line)}</p>' for line in _context(curve)[1:3])
    banners = banner("warn", first.device_note) if first.device_note else ""
    banners += "".join(banner(kind, note) for kind, note in _notes(curve))
    shown = _shown(curve)
    head = "".join(f'<th class="n">{html_text(column)}</th>' for column in shown.columns)
    rows = "".join("<tr>" + "".join(f'<td class="n">{html_text(value)}</td>' for value in row) + "</tr>"
                   for row in shown.itertuples(index=False))
    return (f"<h1>Curve: {html_text(model_title(first.model))} over {html_text(_swept_label(curve))}</h1>"
            f"{context}{banners}{_charts(curve)}"
            f"<h2>Points</h2><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
            '<p class="meta">whiskers: 80% interval; hover a point for its figures</p>'
            '<p class="foot">Self-contained page: nothing is loaded from the network.</p>')
