"""What the one-model and the comparison pages share: scoped CSS, the page shell, banners, headline
cards, colours per group, and the breakdown table with inline bars. Everything printed goes through
html_text."""

from __future__ import annotations

import math

import pandas as pd

from estimator.predict.render.cells import html_text, interval_text, ms_text, percent_text

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "banner",
    "card",
    "color_for",
    "fragment",
    "group_table",
    "legend",
    "name_html",
    "page",
]

# The page may load nothing: no script, image, font or stylesheet from anywhere, inline styles only.
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'"

BAR_PX = 100  # in pixels: a percentage width makes the breakdowns' flex items too wide to sit side by side
MONOSPACE = 'ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace'
# Every selector is scoped to .oce, so that a report shown inside a notebook leaves the notebook's styles alone.
CSS = f"""
.oce{{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#1d2430;
line-height:1.4;max-width:1200px}}
.oce h1{{font-size:1.5em;margin:.2em 0}}
.oce h1,.oce h2,.oce .banner,.oce .meta,.oce li{{overflow-wrap:anywhere}}
.oce h2{{font-size:1.15em;margin:1.4em 0 .4em;border-bottom:1px solid #dde3ea;padding-bottom:.2em}}
.oce h3{{font-size:1em;margin:.6em 0 .2em}}
.oce .meta{{color:#4a5568;margin:.15em 0}}
.oce .cards{{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}}
.oce .card{{border:1px solid #dde3ea;border-radius:8px;padding:8px 14px;min-width:160px;background:#f8fafc}}
.oce .card .k{{font-size:12px;color:#4a5568;text-transform:uppercase;letter-spacing:.04em}}
.oce .card .v{{font-size:1.5em;font-weight:600;white-space:nowrap}}
.oce .card .s{{font-size:12px;color:#4a5568}}
.oce .banner{{border-left:6px solid;padding:8px 12px;margin:8px 0;border-radius:4px}}
.oce .banner.bad{{border-color:#c62828;background:#fdecea;font-weight:600}}
.oce .banner.warn{{border-color:#e0a800;background:#fff8e1}}
.oce .banner.info{{border-color:#90a4ae;background:#eef2f5}}
.oce table{{border-collapse:collapse;margin:6px 0;font-size:13px}}
.oce th,.oce td{{border-bottom:1px solid #e3e8ee;padding:3px 6px;text-align:left;vertical-align:top}}
.oce th{{background:#f1f4f8}}
.oce .n{{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}}
.oce .barcell{{width:{BAR_PX + 4}px;white-space:nowrap}}
.oce .nw{{white-space:nowrap}}
.oce th.r{{text-align:right}}
.oce .iv{{font-size:11px;color:#4a5568}}
.oce .bar{{display:inline-block;height:10px;border-radius:2px;vertical-align:middle;background:#3b7dd8}}
.oce .name{{font-family:{MONOSPACE};font-size:12px;overflow-wrap:anywhere}}
.oce .ood{{color:#c62828;font-weight:700}}
.oce .grid{{display:flex;flex-wrap:wrap;gap:8px 24px;align-items:flex-start}}
.oce .chart{{overflow-x:auto;max-width:100%}}
.oce .legend span{{display:inline-block;margin-right:14px;font-size:12px}}
.oce .swatch{{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:4px;vertical-align:-1px}}
.oce details summary{{cursor:pointer;margin:.6em 0}}
.oce .foot{{color:#6b7785;font-size:12px;margin-top:2em}}
"""

GROUP_COLORS = {"convolutional": "#3b7dd8", "pooling": "#2e9e6a", "dense": "#8e5cc4", "other": "#9aa5b1",
                "run overhead": "#e0a800"}
EXTRA_COLORS = ("#e07b39", "#1b9aaa", "#c2488f", "#6a8d2f", "#7a6bd1", "#b5893b")


def color_for(group: str, position: int = 0) -> str:
    """The colour of a layer type (fixed), or of another group by its position."""
    return GROUP_COLORS.get(group, EXTRA_COLORS[position % len(EXTRA_COLORS)])


def page(title: str, body: str) -> str:
    """A self-contained HTML document: inline CSS, a policy that forbids loading anything."""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html_text(title)}</title>
<style>body{{margin:1.5em 2em;background:#fff}}{CSS}</style></head>
<body>{fragment(body, with_style=False)}</body></html>
"""


def fragment(body: str, with_style: bool = True) -> str:
    """The report as one <div> (with its scoped style) for a notebook cell or another page."""
    return f'<div class="oce">{f"<style>{CSS}</style>" if with_style else ""}{body}</div>'


def banner(kind: str, text: str) -> str:
    """A coloured line: kind is bad (cannot be missed), warn or info; text is escaped here."""
    return f'<div class="banner {kind}" role="{"alert" if kind == "bad" else "note"}">{html_text(text)}</div>'


def card(key: str, value: str, sub: str = "") -> str:
    return (f'<div class="card"><div class="k">{html_text(key)}</div><div class="v">{html_text(value)}</div>'
            f'<div class="s">{html_text(sub)}</div></div>')


def legend(groups: list[str]) -> str:
    items = "".join(f'<span><i class="swatch" style="background:{color_for(g, i)}"></i>{html_text(g)}</span>'
                    for i, g in enumerate(groups))
    return f'<div class="legend">{items}</div>'


def name_html(name: object) -> str:
    """A node name, escaped, that may wrap after each '/' (names are paths of the exporter's modules)."""
    return html_text(name).replace("/", "/<wbr>")


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def group_table(frame: pd.DataFrame, heading: str, label: str, energy: bool, colored: bool = False) -> str:
    """A breakdown (estimator.predict.breakdown.cost_by) as a table with a bar per share."""
    if frame.empty:
        return ""
    widest = max(float(frame["runtime_share"].max()), 1e-12)
    rows = []
    for position, row in enumerate(frame.itertuples(index=False)):
        color = color_for(str(row.group), position) if colored else "#3b7dd8"
        width = BAR_PX * float(row.runtime_share) / widest
        energy_cell = ""
        if energy:
            energy_cell = f'<td class="n">{"n/m" if _is_missing(row.energy_mj) else ms_text(row.energy_mj)}</td>'
        rows.append(
            f'<tr><td>{html_text(row.group or "(none)")}</td><td class="n">{row.layers or ""}</td>'
            f'<td class="n">{ms_text(row.runtime_ms)}</td>'
            f'<td class="n iv">{interval_text(row.runtime_low_ms, row.runtime_high_ms)}</td>'
            f'<td class="n">{percent_text(row.runtime_share)}</td>'
            f'<td class="barcell"><span class="bar" style="width:{width:.1f}px;background:{color}"></span></td>'
            f"{energy_cell}</tr>")
    energy_head = '<th class="n">energy (mJ)</th>' if energy else ""
    return (f'<div><h3>{html_text(heading)}</h3><table><thead><tr><th>{html_text(label)}</th><th class="n">layers</th>'
            f'<th class="n">runtime (ms)</th><th class="n">80% interval</th><th class="n">share</th><th></th>'
            f'{energy_head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>')
