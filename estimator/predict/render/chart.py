"""Inline SVG charts: one bar per layer in graph order, one stacked bar per model, and a line through a curve's points.

Layer labels drop the path segments that the next one repeats and are then shortened from the
middle. Widths come from the longest label at a conservative character width, so that no label is clipped
whatever monospace font the browser picks (scripts/check_html.py checks this in Chromium). Each row
is a <g> whose <title> gives the full name on hover.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from estimator.predict.render.cells import compact_path, html_text, interval_text, ms_text, percent_text, shorten_middle
from estimator.predict.render.html_parts import MONOSPACE, color_for

__all__ = ["LABEL_LIMIT", "StackedRow", "layer_chart", "line_chart", "stacked_chart"]

FONT_PX = 11
CHAR_PX = 7.2  # wider than any common monospace font at 11 px (0.6 em = 6.6 px)
LABEL_LIMIT = 44  # characters a chart label keeps; the full name is in the row's <title>
PLOT_PX = 480
AXIS_PX = 24
OOD_COLOR = "#c62828"


def _text_px(text: str) -> float:
    """A generous width of `text` at FONT_PX: East Asian wide characters take about a full em."""
    return sum(FONT_PX + 1.0 if unicodedata.east_asian_width(c) in "WF" else CHAR_PX for c in text)


def _nice_step(span: float, ticks: int = 5) -> float:
    if span <= 0:
        return 1.0
    raw = span / ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)


def _axis(left: float, width: float, top: float, bottom: float, longest: float) -> str:
    """Ticks in ms along the top of the plot, with light grid lines down to `bottom`."""
    step = _nice_step(longest)
    parts = []
    for index in range(int(longest / step + 1e-9) + 1):
        value = index * step
        x = left + width * value / longest
        label = f"{value:g}" + (" ms" if index == 0 else "")
        anchor = "start" if index == 0 else "middle"
        parts.append(f'<line x1="{x:.1f}" y1="{top - 4:.1f}" x2="{x:.1f}" y2="{bottom:.1f}" stroke="#e3e8ee"/>'
                     f'<text class="tick" x="{x:.1f}" y="{top - 8:.1f}" text-anchor="{anchor}" fill="#4a5568">{label}</text>')
    return "".join(parts)


def _svg(width: float, height: float, label: str, body: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="{html_text(label)}" '
            f'font-family=\'{MONOSPACE}\' font-size="{FONT_PX}">{body}</svg>')


def _whisker(x_low: float, x_high: float, y: float, cap: float) -> str:
    return (f'<line x1="{x_low:.1f}" y1="{y:.1f}" x2="{x_high:.1f}" y2="{y:.1f}" stroke="#1d2430" stroke-width="1"/>'
            f'<line x1="{x_low:.1f}" y1="{y - cap:.1f}" x2="{x_low:.1f}" y2="{y + cap:.1f}" stroke="#1d2430"/>'
            f'<line x1="{x_high:.1f}" y1="{y - cap:.1f}" x2="{x_high:.1f}" y2="{y + cap:.1f}" stroke="#1d2430"/>')


def layer_chart(layers: pd.DataFrame) -> str:
    """One bar per layer in graph order, coloured by layer type, with its 80% interval as a whisker;
    layers outside the profile's training ranges get a red outline and a '!'."""
    row_px = 16
    labels = [shorten_middle(compact_path(str(name)), LABEL_LIMIT) for name in layers["name"]]
    values = [ms_text(v) for v in layers["runtime_ms"]]
    longest = max([*layers["runtime_high_ms"], *layers["runtime_ms"], 0.0])
    longest = longest if longest > 0 else 1.0
    label_px = max([_text_px(t) for t in labels] + [40.0]) + 14
    value_px = max([_text_px(t + " !") for t in values] + [_text_px("0 ms")]) + 16
    width, height = label_px + PLOT_PX + value_px, AXIS_PX + max(1, len(layers)) * row_px + 4
    rows = []
    types = list(dict.fromkeys(layers["layer_type"]))
    for position, (label, value, row) in enumerate(zip(labels, values, layers.itertuples(index=False), strict=True)):
        y = AXIS_PX + position * row_px
        bar = PLOT_PX * float(row.runtime_ms) / longest
        x_low = label_px + PLOT_PX * float(row.runtime_low_ms) / longest
        x_high = label_px + PLOT_PX * float(row.runtime_high_ms) / longest
        end = max(label_px + bar, x_high)
        ood = bool(row.out_of_distribution)
        outline = f' stroke="{OOD_COLOR}" stroke-width="1.5"' if ood else ""
        tip = (f"{row.name}\n{row.op_type} · {row.shape}\n{ms_text(row.runtime_ms)} ms "
               f"(80% interval {interval_text(row.runtime_low_ms, row.runtime_high_ms)}), "
               f"{percent_text(row.runtime_share)} of the total"
               + ("\noutside the profile's training ranges" if ood else ""))
        rows.append(
            f'<g class="row"><title>{html_text(tip)}</title>'
            f'<text class="label" x="{label_px - 8:.1f}" y="{y + 12}" text-anchor="end">{html_text(label)}</text>'
            f'<rect x="{label_px:.1f}" y="{y + 3}" width="{max(1.0, bar):.1f}" height="{row_px - 6}" '
            f'fill="{color_for(str(row.layer_type), types.index(row.layer_type))}"{outline}/>'
            + _whisker(x_low, x_high, y + row_px / 2, 3)
            + f'<text class="value" x="{end + 5:.1f}" y="{y + 12}" fill="#4a5568">{value}</text>'
            + (f'<text class="ood" x="{end + 5 + _text_px(value + " "):.1f}" y="{y + 12}" fill="{OOD_COLOR}" '
               f'font-weight="bold">!</text>' if ood else "")
            + "</g>")
    axis = _axis(label_px, PLOT_PX, AXIS_PX, height - 4, longest)
    return _svg(width, height, f"runtime of {len(layers)} layers in graph order", axis + "".join(rows))


def line_chart(labels: Sequence[str], values: Sequence[float], title: str, unit: str, along: str,
               lows: Sequence[float] | None = None, highs: Sequence[float] | None = None) -> str:
    """One point per label (a value of `along`), evenly spaced in the given order and joined by a line, on an
    axis from 0, with optional interval whiskers; each point's <title> gives its figures (a curve's chart)."""
    height_px, top_px, bottom_px = 160, 14, 34
    tops = [*values, *(highs or []), 0.0]
    longest = max(v for v in tops if not math.isnan(v)) or 1.0
    step = _nice_step(longest, 4)
    axis_top = step * math.ceil(longest / step - 1e-9)
    ticks = [index * step for index in range(round(axis_top / step) + 1)]
    left = max(_text_px(f"{tick:g}") for tick in ticks) + 12
    plot_px = max(320.0, len(labels) * (max(_text_px(label) for label in labels) + 12)) if labels else 320.0
    width, height = left + plot_px + 16, top_px + height_px + bottom_px

    def x(index: int) -> float:
        return left + plot_px * (index + 0.5) / len(labels)

    def y(value: float) -> float:
        return top_px + height_px * (1 - value / axis_top)

    parts = [f'<line x1="{left:.1f}" y1="{y(tick):.1f}" x2="{left + plot_px:.1f}" y2="{y(tick):.1f}" stroke="#e3e8ee"/>'
             f'<text class="tick" x="{left - 6:.1f}" y="{y(tick) + 4:.1f}" text-anchor="end" fill="#4a5568">{tick:g}</text>'
             for tick in ticks]
    points = [(x(index), y(value)) for index, value in enumerate(values) if not math.isnan(value)]
    if len(points) > 1:
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="#3b7dd8" stroke-width="2"/>')
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        parts.append(f'<text class="label" x="{x(index):.1f}" y="{top_px + height_px + 16}" text-anchor="middle">'
                     f"{html_text(label)}</text>")
        if math.isnan(value):
            continue
        tip = f"{title} at {along} {label}: {ms_text(value)} {unit}"
        whisker = ""
        if lows is not None and highs is not None:
            tip += f" (80% interval {interval_text(lows[index], highs[index])})"
            whisker = (f'<line x1="{x(index):.1f}" y1="{y(lows[index]):.1f}" x2="{x(index):.1f}" '
                       f'y2="{y(highs[index]):.1f}" stroke="#1d2430"/>')
        parts.append(f'<g class="point"><title>{html_text(tip)}</title>{whisker}'
                     f'<circle cx="{x(index):.1f}" cy="{y(value):.1f}" r="4" fill="#3b7dd8"/></g>')
    parts.append(f'<text class="tick" x="{left + plot_px / 2:.1f}" y="{height - 4}" text-anchor="middle" '
                 f'fill="#4a5568">{html_text(unit)}</text>')
    return _svg(width, height, f"{title} ({unit}) at {len(labels)} points", "".join(parts))


@dataclass(frozen=True)
class StackedRow:
    """One model of the comparison chart: its parts by group, total, interval and the text after the bar."""

    title: str
    parts: Sequence[tuple[str, float]]
    total_ms: float
    low_ms: float
    high_ms: float
    value: str
    tip: str
    flagged: bool


def stacked_chart(rows: Sequence[StackedRow], groups: Sequence[str], plot_px: int = 640) -> str:
    """One bar per model, stacked by group (coloured as in the legend), with the total's interval."""
    row_px = 26
    labels = [shorten_middle(row.title, LABEL_LIMIT) for row in rows]
    longest = max([r.high_ms for r in rows] + [r.total_ms for r in rows] + [0.0])
    longest = longest if longest > 0 else 1.0
    label_px = max([_text_px(t) for t in labels] + [40.0]) + 14
    value_px = max([_text_px(r.value) for r in rows] + [_text_px("0 ms")]) + 16
    width, height = label_px + plot_px + value_px, AXIS_PX + max(1, len(rows)) * row_px + 4
    body = []
    for position, (label, row) in enumerate(zip(labels, rows, strict=True)):
        y = AXIS_PX + position * row_px
        x = label_px
        segments = []
        for group, runtime in row.parts:
            span = plot_px * runtime / longest
            if span > 0:
                segments.append(f'<rect x="{x:.1f}" y="{y + 5}" width="{span:.2f}" height="{row_px - 10}" '
                                f'fill="{color_for(group, list(groups).index(group))}"/>')
            x += span
        x_low, x_high = (label_px + plot_px * v / longest for v in (row.low_ms, row.high_ms))
        end = max(x, x_high)
        color = OOD_COLOR if row.flagged else "#1d2430"
        body.append(
            f'<g class="row"><title>{html_text(row.tip)}</title>'
            f'<text class="label" x="{label_px - 8:.1f}" y="{y + 17}" text-anchor="end">{html_text(label)}</text>'
            + "".join(segments) + _whisker(x_low, x_high, y + row_px / 2, 4)
            + f'<text class="value" x="{end + 6:.1f}" y="{y + 17}" fill="{color}">{html_text(row.value)}</text></g>')
    axis = _axis(label_px, plot_px, AXIS_PX, height - 4, longest)
    return _svg(width, height, f"runtime of {len(rows)} models", axis + "".join(body))
