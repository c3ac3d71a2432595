"""Several reports -> one summary line per model (table, CSV, JSON or Markdown)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pandas as pd

from estimator.predict.render.common import NOT_MEASURED

if TYPE_CHECKING:
    from estimator.predict.report import Report

__all__ = ["render_summary"]


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
        # Not DataFrame.to_markdown: its padded columns would change `estimate`'s output.
        lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
        lines += ["| " + " | ".join("" if pd.isna(v) else str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
        return "\n".join(lines) + "\n"
    shown = frame.astype(object).where(frame.notna(), "n/m")
    text = shown.to_string(index=False)
    note = "" if all(r.power_measured for r in reports) else f"\nn/m: power and energy {NOT_MEASURED}\n"
    return text + "\n" + note
