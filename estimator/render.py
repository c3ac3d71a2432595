"""Renderers: a Report -> terminal table, CSV, JSON, Markdown or a self-contained HTML page."""

from __future__ import annotations

import html
import io
import json
import math

import pandas as pd

from estimator.report import NOT_MEASURED, Report

__all__ = [
    "FORMATS",
    "render",
    "render_csv",
    "render_html",
    "render_json",
    "render_markdown",
    "render_summary",
    "render_table",
    "report_dict",
]

FORMATS = ("table", "csv", "json", "markdown", "html")


def render(report: Report, fmt: str, top: int | None = None) -> str:
    if fmt == "table":
        return render_table(report, top)
    if fmt == "csv":
        return render_csv(report)
    if fmt == "json":
        return render_json(report)
    if fmt == "markdown":
        return render_markdown(report, top)
    if fmt == "html":
        return render_html(report)
    raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")


def _number(value: float | None, digits: int = 3) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), digits)


def report_dict(report: Report) -> dict[str, object]:
    """The JSON document: stable field names, units in the names."""
    totals = report.totals
    layers = []
    for row in report.layers.itertuples(index=False):
        layers.append({
            "name": row.name,
            "op_type": row.op_type,
            "layer_type": row.layer_type,
            "shape": row.shape,
            "runtime_ms": _number(row.runtime_ms, 6),
            "runtime_low_ms": _number(row.runtime_low_ms, 6),
            "runtime_high_ms": _number(row.runtime_high_ms, 6),
            "power_w": _number(row.power_w, 4) if report.power_measured else None,
            "energy_mj": _number(row.energy_mj, 6) if report.power_measured else None,
            "runtime_share": _number(row.runtime_share, 6),
            "out_of_distribution": bool(row.out_of_distribution),
        })
    return {
        "model": report.model,
        "profile": report.profile_id,
        "device": report.device,
        "power_measured": report.power_measured,
        "power_note": None if report.power_measured else NOT_MEASURED,
        "batch_size": totals.batch_size,
        "batch_size_assumed": totals.batch_size_assumed,
        "input_shapes": {name: list(shape) for name, shape in report.input_shapes.items()},
        "composition": report.composition,
        "totals": {
            "runtime_ms": _number(totals.runtime_ms, 6),
            "runtime_low_ms": _number(totals.runtime_low_ms, 6),
            "runtime_high_ms": _number(totals.runtime_high_ms, 6),
            "power_w": _number(totals.power_w, 4),
            "energy_mj": _number(totals.energy_mj, 6),
            "layers_out_of_distribution": totals.layers_out_of_distribution,
        },
        "nodes": {
            "total": totals.nodes_total,
            "modeled": totals.nodes_modeled,
            "free": totals.nodes_free,
            "unmodeled": totals.nodes_unmodeled,
            "unmodeled_by_op": totals.unmodeled_by_op,
        },
        "unmodeled": [{"name": n.name, "op_type": n.op_type, "reason": n.reason} for n in report.unmodeled],
        "layers": layers,
    }


def render_json(report: Report) -> str:
    return json.dumps(report_dict(report), indent=2) + "\n"


def render_csv(report: Report) -> str:
    """One row per layer, then one per unmodeled node (with the reason), then the TOTAL row."""
    frame = report.layers.copy()
    if not report.power_measured:
        frame["power_w"] = None
        frame["energy_mj"] = None
    frame["note"] = ""
    frame.loc[frame["out_of_distribution"], "note"] = "outside the profile's training ranges"
    extra = [{"name": n.name, "op_type": n.op_type, "layer_type": "unmodeled", "note": n.reason}
             for n in report.unmodeled]
    totals = report.totals
    extra.append({
        "name": "TOTAL", "op_type": "", "layer_type": "total", "shape": f"batch {totals.batch_size}",
        "runtime_ms": totals.runtime_ms, "runtime_low_ms": totals.runtime_low_ms,
        "runtime_high_ms": totals.runtime_high_ms, "power_w": totals.power_w, "energy_mj": totals.energy_mj,
        "runtime_share": 1.0, "out_of_distribution": totals.layers_out_of_distribution > 0,
        "note": "" if report.power_measured else f"power and energy {NOT_MEASURED}",
    })
    frame = pd.concat([frame, pd.DataFrame(extra)], ignore_index=True)
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()


def _power_text(value: float | None, report: Report, unit: str, digits: int) -> str:
    if not report.power_measured or value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/m"
    return f"{value:.{digits}f} {unit}"


def _header_lines(report: Report) -> list[str]:
    totals = report.totals
    batch = f"{totals.batch_size}" + (" (assumed: the model's batch dimension is symbolic)" if totals.batch_size_assumed
                                      else "")
    lines = [
        f"model    {report.model}",
        f"profile  {report.profile_id} ({report.device})",
        f"batch    {batch}",
        f"runtime  {totals.runtime_ms:.3f} ms (80% interval {totals.runtime_low_ms:.3f}-{totals.runtime_high_ms:.3f})",
    ]
    if report.power_measured:
        lines.append(f"power    {totals.power_w:.2f} W (runtime-weighted mean)")
        lines.append(f"energy   {totals.energy_mj:.3f} mJ")
    else:
        lines.append(f"power    {NOT_MEASURED}")
        lines.append(f"energy   {NOT_MEASURED}")
    lines.append(
        f"nodes    {totals.nodes_total} total: {totals.nodes_modeled} modeled, {totals.nodes_free} free "
        f"(constants/shape ops), {totals.nodes_unmodeled} unmodeled"
        + (" [" + ", ".join(f"{op} x{n}" for op, n in totals.unmodeled_by_op.items()) + "]"
           if totals.unmodeled_by_op else "")
    )
    if totals.layers_out_of_distribution:
        lines.append(f"warning  {totals.layers_out_of_distribution} layer(s) lie outside the profile's training "
                     "ranges (marked !)")
    return lines


def render_table(report: Report, top: int | None = 15) -> str:
    """Totals, then the top-N layers by runtime, then the unmodeled nodes."""
    lines = _header_lines(report)
    layers = report.layers.sort_values("runtime_ms", ascending=False)
    shown = layers if top is None or top <= 0 else layers.head(top)
    lines.append("")
    title = "all layers" if len(shown) == len(layers) else f"top {len(shown)} of {len(layers)} layers"
    lines.append(f"{title} by runtime:")
    name_width = min(48, max([4, *(len(str(n)) for n in shown["name"])]))
    lines.append(f"{'layer':<{name_width}}  {'op':<18} {'shape':<30} {'ms':>9} {'share':>6} {'W':>7} {'mJ':>9}")
    for row in shown.itertuples(index=False):
        name = str(row.name)
        if len(name) > name_width:
            name = "…" + name[-(name_width - 1):]
        flag = "!" if row.out_of_distribution else " "
        lines.append(
            f"{name:<{name_width}}{flag} {row.op_type:<18} {str(row.shape)[:30]:<30} {row.runtime_ms:>9.4f} "
            f"{row.runtime_share * 100:>5.1f}% {_power_text(row.power_w, report, '', 2):>7} "
            f"{_power_text(row.energy_mj, report, '', 4):>9}"
        )
    if report.unmodeled:
        lines.append("")
        lines.append(f"unmodeled nodes ({len(report.unmodeled)}), not in the totals:")
        for node in report.unmodeled:
            lines.append(f"  {node.name} ({node.op_type}): {node.reason}")
    if not report.power_measured:
        lines.append("")
        lines.append(f"n/m: power and energy {NOT_MEASURED}")
    return "\n".join(lines) + "\n"


def render_markdown(report: Report, top: int | None = None) -> str:
    totals = report.totals
    out = [f"# Estimate: `{report.model}`", "", "| quantity | value |", "|---|---|",
           f"| profile | {report.profile_id} ({report.device}) |",
           f"| batch size | {totals.batch_size}{' (assumed)' if totals.batch_size_assumed else ''} |",
           f"| runtime | {totals.runtime_ms:.3f} ms (80% interval {totals.runtime_low_ms:.3f}-"
           f"{totals.runtime_high_ms:.3f}) |",
           f"| power | {_power_text(totals.power_w, report, 'W', 2).replace('n/m', NOT_MEASURED)} |",
           f"| energy | {_power_text(totals.energy_mj, report, 'mJ', 3).replace('n/m', NOT_MEASURED)} |",
           f"| nodes | {totals.nodes_total} total, {totals.nodes_modeled} modeled, {totals.nodes_free} free, "
           f"{totals.nodes_unmodeled} unmodeled |",
           f"| layers outside training ranges | {totals.layers_out_of_distribution} |", ""]
    layers = report.layers.sort_values("runtime_ms", ascending=False)
    if top:
        layers = layers.head(top)
    out += ["| layer | op | shape | runtime (ms) | share | power (W) | energy (mJ) |", "|---|---|---|---:|---:|---:|---:|"]
    for row in layers.itertuples(index=False):
        flag = " ⚠" if row.out_of_distribution else ""
        out.append(f"| `{row.name}`{flag} | {row.op_type} | {row.shape} | {row.runtime_ms:.4f} | "
                   f"{row.runtime_share * 100:.1f}% | {_power_text(row.power_w, report, '', 2)} | "
                   f"{_power_text(row.energy_mj, report, '', 4)} |")
    if report.unmodeled:
        out += ["", f"Unmodeled nodes ({len(report.unmodeled)}), not in the totals:", ""]
        out += [f"- `{n.name}` ({n.op_type}): {n.reason}" for n in report.unmodeled]
    if not report.power_measured:
        out += ["", f"n/m: power and energy {NOT_MEASURED}."]
    return "\n".join(out) + "\n"


def render_html(report: Report) -> str:
    """A self-contained page (no network): totals, an inline-SVG runtime bar per layer, unmodeled nodes."""
    esc = html.escape
    layers = report.layers.reset_index(drop=True)
    longest = float(layers["runtime_ms"].max()) if len(layers) else 1.0
    bar_width, row_height, label_width = 420, 16, 300
    svg_rows = []
    for position, row in layers.iterrows():
        y = position * row_height
        width = 0 if longest <= 0 else max(1.0, bar_width * row.runtime_ms / longest)
        color = "#d9534f" if row.out_of_distribution else "#3b7dd8"
        svg_rows.append(
            f'<text x="{label_width - 6}" y="{y + 12}" text-anchor="end">{esc(str(row["name"])[-45:])}</text>'
            f'<rect x="{label_width}" y="{y + 2}" width="{width:.1f}" height="{row_height - 4}" fill="{color}">'
            f'<title>{esc(str(row["name"]))}: {row.runtime_ms:.4f} ms</title></rect>'
            f'<text x="{label_width + width + 4:.1f}" y="{y + 12}">{row.runtime_ms:.4f} ms</text>'
        )
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_width + bar_width + 120}" '
           f'height="{max(1, len(layers)) * row_height}" font-family="monospace" font-size="11">'
           + "".join(svg_rows) + "</svg>")
    header = "".join(f"<li>{esc(line)}</li>" for line in _header_lines(report))
    table_rows = "".join(
        f"<tr><td>{esc(str(r['name']))}{' ⚠' if r['out_of_distribution'] else ''}</td><td>{esc(r['op_type'])}</td>"
        f"<td>{esc(str(r['shape']))}</td><td>{r['runtime_ms']:.4f}</td><td>{r['runtime_share'] * 100:.1f}%</td>"
        f"<td>{esc(_power_text(r['power_w'], report, '', 2))}</td>"
        f"<td>{esc(_power_text(r['energy_mj'], report, '', 4))}</td></tr>"
        for _, r in layers.iterrows()
    )
    unmodeled = "".join(f"<li>{esc(n.name)} ({esc(n.op_type)}): {esc(n.reason)}</li>" for n in report.unmodeled)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Estimate: {esc(report.model)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 6px;font-size:12px}}td:nth-child(n+4){{text-align:right}}</style></head>
<body><h1>Estimate: {esc(report.model)}</h1><ul>{header}</ul>
<h2>Runtime per layer (graph order)</h2>{svg}
<h2>Layers</h2><table><tr><th>layer</th><th>op</th><th>shape</th><th>runtime (ms)</th><th>share</th>
<th>power (W)</th><th>energy (mJ)</th></tr>{table_rows}</table>
<h2>Unmodeled nodes ({len(report.unmodeled)})</h2><ul>{unmodeled or "<li>none</li>"}</ul>
{"" if report.power_measured else f"<p>n/m: power and energy {NOT_MEASURED}.</p>"}
</body></html>
"""


def render_summary(reports: list[Report], fmt: str) -> str:
    """One line per model, for several models at once."""
    rows = [{
        "model": r.model,
        "batch_size": r.totals.batch_size,
        "runtime_ms": round(r.totals.runtime_ms, 4),
        "power_w": None if r.totals.power_w is None else round(r.totals.power_w, 3),
        "energy_mj": None if r.totals.energy_mj is None else round(r.totals.energy_mj, 4),
        "layers": r.totals.nodes_modeled,
        "unmodeled": r.totals.nodes_unmodeled,
        "out_of_distribution": r.totals.layers_out_of_distribution,
    } for r in reports]
    frame = pd.DataFrame(rows)
    if fmt == "json":
        return json.dumps(rows, indent=2) + "\n"
    if fmt == "csv":
        return frame.to_csv(index=False, lineterminator="\n")
    if fmt == "markdown":
        lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
        lines += ["| " + " | ".join("" if pd.isna(v) else str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
        return "\n".join(lines) + "\n"
    shown = frame.astype(object).where(frame.notna(), "n/m")
    text = shown.to_string(index=False)
    note = "" if all(r.power_measured for r in reports) else f"\nn/m: power and energy {NOT_MEASURED}\n"
    return text + "\n" + note
