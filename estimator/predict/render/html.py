"""Report -> a self-contained HTML page (inline SVG, no network)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from estimator.predict.render.common import NOT_MEASURED, header_lines, power_text

if TYPE_CHECKING:
    from estimator.predict.report import Report

__all__ = ["render_html"]


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
    header = "".join(f"<li>{esc(line)}</li>" for line in header_lines(report))
    table_rows = "".join(
        f"<tr><td>{esc(str(r['name']))}{' ⚠' if r['out_of_distribution'] else ''}</td><td>{esc(r['op_type'])}</td>"
        f"<td>{esc(str(r['shape']))}</td><td>{r['runtime_ms']:.4f}</td><td>{r['runtime_share'] * 100:.1f}%</td>"
        f"<td>{esc(power_text(r['power_w'], report, '', 2))}</td>"
        f"<td>{esc(power_text(r['energy_mj'], report, '', 4))}</td></tr>"
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
