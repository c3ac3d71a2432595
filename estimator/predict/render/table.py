"""Report -> terminal table: totals, runtime by layer type, the top layers by runtime, the unmodeled nodes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from estimator.predict.breakdown import cost_by
from estimator.predict.render.cells import ms_text, percent_text
from estimator.predict.render.common import NOT_MEASURED, header_lines, power_text
from estimator.predict.render.escape import terminal_text

if TYPE_CHECKING:
    from estimator.predict.report import Report

__all__ = ["render_table"]


def render_table(report: Report, top: int | None = 15) -> str:
    """Totals, runtime by layer type, then the top-N layers by runtime, then the unmodeled nodes."""
    lines = header_lines(report)
    lines += ["", "by layer type:", *_by_layer_type(report)]
    layers = report.layers.sort_values("runtime_ms", ascending=False)
    shown = layers if top is None or top <= 0 else layers.head(top)
    lines.append("")
    title = "all layers" if len(shown) == len(layers) else f"top {len(shown)} of {len(layers)} layers"
    lines.append(f"{title} by runtime:")
    name_width = min(48, max([4, *(len(terminal_text(n)) for n in shown["name"])]))
    lines.append(f"{'layer':<{name_width}}  {'op':<18} {'shape':<30} {'ms':>9} {'share':>6} {'W':>7} {'mJ':>9}")
    for row in shown.itertuples(index=False):
        name = terminal_text(row.name)
        if len(name) > name_width:
            name = "…" + name[-(name_width - 1):]
        flag = "!" if row.out_of_distribution else " "
        lines.append(
            f"{name:<{name_width}}{flag} {terminal_text(row.op_type):<18} {terminal_text(row.shape)[:30]:<30} "
            f"{row.runtime_ms:>9.4f} "
            f"{row.runtime_share * 100:>5.1f}% {power_text(row.power_w, report, '', 2):>7} "
            f"{power_text(row.energy_mj, report, '', 4):>9}"
        )
    if report.unmodeled:
        lines.append("")
        lines.append(f"unmodeled nodes ({len(report.unmodeled)}), not in the totals:")
        for node in report.unmodeled:
            lines.append(f"  {terminal_text(node.name)} ({terminal_text(node.op_type)}): {terminal_text(node.reason)}")
    if not report.power_measured:
        lines.append("")
        lines.append(f"n/m: power and energy {NOT_MEASURED}")
    return "\n".join(lines) + "\n"


def _by_layer_type(report: Report) -> list[str]:
    lines = []
    for row in cost_by(report, "layer_type").itertuples(index=False):
        energy = "" if row.energy_mj is None else f" {ms_text(row.energy_mj):>9} mJ"
        lines.append(f"  {row.group:<16} {row.layers:>5} layers {ms_text(row.runtime_ms):>9} ms "
                     f"{percent_text(row.runtime_share):>6}{energy}")
    return lines
