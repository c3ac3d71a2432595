"""The Markdown tables of evaluation.md files and data cards, made one way (DataFrame.to_markdown, padded)."""

from __future__ import annotations

import pandas as pd

__all__ = ["markdown_table"]


def markdown_table(frame: pd.DataFrame, digits: int = 1) -> str:
    """A Markdown table of `frame` without its index, floats to `digits` decimals, missing values empty."""
    cells = frame.astype(object).where(frame.notna(), None)
    return cells.to_markdown(index=False, floatfmt=f".{digits}f", missingval="")
