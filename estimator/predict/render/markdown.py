"""Report -> Markdown: a totals table, runtime by layer type and by op type, and a table of the top layers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from estimator.predict.breakdown import cost_by, is_lower_bound, model_title
from estimator.predict.render.cells import interval_text, markdown_code, ms_text, percent_text, pipe_table
from estimator.predict.render.common import (
    NOT_MEASURED,
    data_dependent_text,
    lower_bound_text,
    macs_text,
    power_text,
    runtime_prefix,
)
from estimator.predict.render.escape import markdown_text

if TYPE_CHECKING:
    from estimator.predict.report import Report

__all__ = ["render_markdown"]


def render_markdown(report: Report, top: int | None = None) -> str:
    totals = report.totals
    quantities = [
        ("profile", f"{markdown_text(report.profile_id)} ({markdown_text(report.device)})"),
        *([("note", markdown_text(report.device_note))] if report.device_note else []),
        ("batch size", f"{totals.batch_size}{' (assumed)' if totals.batch_size_assumed else ''}"),
        ("runtime", f"{runtime_prefix(report)}{totals.runtime_ms:.3f} ms (80% interval {totals.runtime_low_ms:.3f}-"
                    f"{totals.runtime_high_ms:.3f})"),
        ("power", power_text(totals.power_w, report, "W", 2).replace("n/m", NOT_MEASURED)),
        ("energy", power_text(totals.energy_mj, report, "mJ", 3).replace("n/m", NOT_MEASURED)),
        ("nodes", f"{totals.nodes_total} total, {totals.nodes_modeled} modeled, {totals.nodes_free} free, "
                  f"{totals.nodes_unmodeled} unmodeled"),
        ("layers outside training ranges", f"{totals.layers_out_of_distribution} "
                                           f"({percent_text(totals.runtime_share_out_of_distribution)} of the runtime)"),
        ("MACs modeled", f"{totals.macs_modeled_share * 100:.1f}% of {macs_text(totals.macs_total)}"),
        *([("data-dependent", data_dependent_text(report))] if totals.data_dependent_layers else []),
    ]
    out = [f"# Estimate: {markdown_code(model_title(report.model))}", "",
           *pipe_table(("quantity", "value"), quantities, 2), ""]
    if is_lower_bound(report):
        out += [f"**Lower bound:** {markdown_text(lower_bound_text(report))}.", ""]
    for column, title in (("layer_type", "layer type"), ("op_type", "op type")):
        out += [*_groups(report, column, title), ""]
    layers = report.layers.sort_values("runtime_ms", ascending=False)
    if top:
        layers = layers.head(top)
    out += pipe_table(("layer", "op", "shape", "runtime (ms)", "share", "power (W)", "energy (mJ)"),
                      ((markdown_code(row.name) + (" ⚠" if row.out_of_distribution else ""), markdown_code(row.op_type),
                        markdown_text(row.shape), f"{row.runtime_ms:.4f}", f"{row.runtime_share * 100:.1f}%",
                        power_text(row.power_w, report, "", 2), power_text(row.energy_mj, report, "", 4))
                       for row in layers.itertuples(index=False)), 3)
    if report.unmodeled:
        out += ["", f"Unmodeled nodes ({len(report.unmodeled)}), not in the totals:", ""]
        out += [f"- {markdown_code(n.name)} ({markdown_code(n.op_type)}): {markdown_text(n.reason)}"
                for n in report.unmodeled]
    if not report.power_measured:
        out += ["", f"n/m: power and energy {NOT_MEASURED}."]
    return "\n".join(out) + "\n"


def _groups(report: Report, column: str, title: str) -> list[str]:
    """Runtime (and energy, where measured) summed by a layer column, as a table."""
    energy = report.power_measured
    header = (title, "layers", "runtime (ms)", "80% interval", "share", *(("energy (mJ)",) if energy else ()))
    rows = ((markdown_code(row.group), row.layers, ms_text(row.runtime_ms),
             interval_text(row.runtime_low_ms, row.runtime_high_ms), percent_text(row.runtime_share),
             *((("n/m" if row.energy_mj is None else ms_text(row.energy_mj)),) if energy else ()))
            for row in cost_by(report, column).itertuples(index=False))
    return pipe_table(header, rows, 1)
