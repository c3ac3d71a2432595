"""Cells that several renderers print: adaptive millisecond figures, middle-shortened labels, the
escaping of text for a terminal, Markdown, CSV or HTML (re-exported from estimator.predict.render.escape),
and the Markdown pipe table they are set in."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from estimator.predict.render.escape import csv_text, html_text, markdown_code, terminal_text

__all__ = [
    "compact_path",
    "csv_text",
    "html_text",
    "interval_text",
    "markdown_code",
    "ms_text",
    "percent_text",
    "pipe_table",
    "ratio_text",
    "shorten_middle",
    "terminal_text",
]

def pipe_table(header: Sequence[str], rows: Iterable[Iterable[object]], numeric_from: int = 0) -> list[str]:
    """The lines of a Markdown table of cells already escaped, columns from `numeric_from` on right-aligned
    (not DataFrame.to_markdown: its padding would make the output depend on tabulate)."""
    align = ["---" if position < numeric_from else "---:" for position in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def ms_text(value: float | None) -> str:
    """A runtime in ms with about four significant digits (0.0003258, 0.1197, 1.629, 14.21, 1203)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    magnitude = math.floor(math.log10(abs(value))) if value else 0
    return f"{value:.{min(6, max(0, 3 - magnitude))}f}"


def interval_text(low: float, high: float) -> str:
    return f"{ms_text(low)}–{ms_text(high)}"


def ratio_text(value: float | None) -> str:
    """A ratio such as runtime relative to the fastest model (empty when there is none, e.g. a 0 ms fastest)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.2f}x"


def percent_text(share: float | None) -> str:
    if share is None or (isinstance(share, float) and math.isnan(share)):
        return ""
    return f"{share * 100:.1f}%"


def compact_path(name: str) -> str:
    """A node name without the path segments that the next one repeats (PyTorch exports name nodes
    /features/features.2/block/block.0/Conv: this gives /features.2/block.0/Conv)."""
    parts = name.split("/")
    following = [*parts[1:], None]
    kept = [part for part, after in zip(parts, following, strict=True) if not (part and after and after.startswith(part + "."))]
    return "/".join(kept)


def shorten_middle(text: str, limit: int) -> str:
    """`text` cut in the middle to at most `limit` characters, keeping more of the end (the op) than the start."""
    if len(text) <= limit:
        return text
    keep = max(2, limit - 1)
    head = keep // 3
    return text[:head] + "…" + text[len(text) - (keep - head):]
