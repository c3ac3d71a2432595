"""Report -> CSV: one row per layer, the run overhead, the unmodeled nodes, then the TOTAL row."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import pandas as pd

from estimator.predict.breakdown import RUN_OVERHEAD
from estimator.predict.render.common import NOT_MEASURED, coverage_lines
from estimator.predict.render.escape import csv_frame

if TYPE_CHECKING:
    from estimator.predict.report import Report

__all__ = ["render_csv"]


def render_csv(report: Report) -> str:
    """One row per layer, one for the per-run overhead (when the profile has one: the rows above it and it
    sum to the total), one per unmodeled node (with the reason), then the TOTAL row."""
    frame = report.layers.copy()
    if not report.power_measured:
        frame["power_w"] = None
        frame["energy_mj"] = None
    frame["note"] = ""
    frame.loc[frame["out_of_distribution"], "note"] = "outside the profile's training ranges"
    totals = report.totals
    extra = []
    if totals.run_overhead_ms:
        extra.append({"name": "RUN OVERHEAD", "op_type": "", "layer_type": RUN_OVERHEAD,
                      "runtime_ms": totals.run_overhead_ms, "runtime_low_ms": totals.run_overhead_ms,
                      "runtime_high_ms": totals.run_overhead_ms,
                      "runtime_share": totals.run_overhead_ms / totals.runtime_ms if totals.runtime_ms else 0.0,
                      "out_of_distribution": False, "note": "each run's own cost, outside every kernel"})
    extra += [{"name": n.name, "op_type": n.op_type, "layer_type": "unmodeled", "note": n.reason}
              for n in report.unmodeled]
    extra.append({
        "name": "TOTAL", "op_type": "", "layer_type": "total", "shape": f"batch {totals.batch_size}",
        "runtime_ms": totals.runtime_ms, "runtime_low_ms": totals.runtime_low_ms,
        "runtime_high_ms": totals.runtime_high_ms, "power_w": totals.power_w, "energy_mj": totals.energy_mj,
        "runtime_share": 1.0, "out_of_distribution": totals.layers_out_of_distribution > 0,
        "note": "; ".join([*coverage_lines(report), *([] if report.power_measured else
                                                      [f"power and energy {NOT_MEASURED}"]),
                           *([f"{totals.layers_out_of_distribution} layer(s), "
                              f"{totals.runtime_share_out_of_distribution:.1%} of the runtime, outside the profile's "
                              "training ranges"] if totals.layers_out_of_distribution else [])]),
    })
    frame = csv_frame(pd.concat([frame, pd.DataFrame(extra)], ignore_index=True))
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()
