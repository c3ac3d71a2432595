"""What every renderer shares: the not-measured wording, rounding, power cells and the totals header."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from estimator.errors import printable

if TYPE_CHECKING:
    from estimator.predict.report import Report

__all__ = ["NOT_MEASURED", "coverage_lines", "data_dependent_text", "header_lines", "lower_bound_text", "macs_text",
           "number", "out_of_distribution_text", "power_text", "runtime_prefix"]

NOT_MEASURED = "not measured for this profile"


def number(value: float | None, digits: int = 3) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), digits)


def power_text(value: float | None, report: Report, unit: str, digits: int) -> str:
    if not report.power_measured or value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/m"
    return f"{value:.{digits}f} {unit}"


def out_of_distribution_text(report: Report) -> str:
    """The totals' warning about layers outside the training ranges: how many, and their share of the runtime."""
    totals = report.totals
    return (f"warning  {totals.layers_out_of_distribution} layer(s) lie outside the profile's training ranges "
            f"(marked !), {totals.runtime_share_out_of_distribution:.1%} of the runtime: their runtimes are "
            "extrapolated and stop growing past the largest measured layer")


def header_lines(report: Report) -> list[str]:
    """The totals block that the table and the HTML page start with."""
    totals = report.totals
    batch = f"{totals.batch_size}" + (" (assumed: the model's batch dimension is symbolic)" if totals.batch_size_assumed
                                      else "")
    lines = [
        f"model    {printable(report.model)}",
        f"profile  {printable(report.profile_id)} ({printable(report.device)})",
        *([f"note     {printable(report.device_note)}"] if report.device_note else []),
        f"batch    {batch}",
        f"runtime  {runtime_prefix(report)}{totals.runtime_ms:.3f} ms (80% interval {totals.runtime_low_ms:.3f}-"
        f"{totals.runtime_high_ms:.3f})",
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
        + (" [" + ", ".join(f"{printable(op)} x{n}" for op, n in totals.unmodeled_by_op.items()) + "]"
           if totals.unmodeled_by_op else "")
    )
    if totals.layers_out_of_distribution:
        lines.append(out_of_distribution_text(report))
    return lines + coverage_lines(report)


def runtime_prefix(report: Report) -> str:
    """'>= ' before a total that is a lower bound."""
    from estimator.predict.breakdown import is_lower_bound

    return ">= " if is_lower_bound(report) else ""


def lower_bound_text(report: Report) -> str:
    """Why the totals are a lower bound: the coverage reasons, else the unmodeled nodes ('' when they are not)."""
    totals = report.totals
    if totals.lower_bound_reasons:
        return "the totals miss compute: " + "; ".join(totals.lower_bound_reasons)
    if totals.nodes_unmodeled:
        return f"{totals.nodes_unmodeled} node(s) are not modeled, so the totals leave their cost out"
    return ""


def macs_text(macs: int) -> str:
    """A MAC count in a unit that fits, about three significant digits: 4.09 GMACs, 221 kMACs."""
    for scale, unit in ((1e12, "TMACs"), (1e9, "GMACs"), (1e6, "MMACs"), (1e3, "kMACs")):
        if macs >= scale:
            value = macs / scale
            return f"{value:.{2 if value < 10 else 1 if value < 100 else 0}f} {unit}"
    return f"{macs} MACs"


def coverage_lines(report: Report) -> list[str]:
    """The share of MACs modeled, the lower-bound marker with its reasons, and data-dependent sizes."""
    totals = report.totals
    lines = [f"modeled  {totals.macs_modeled_share * 100:.1f}% of {macs_text(totals.macs_total)}"]
    reason = lower_bound_text(report)
    if reason:
        lines.append(f"LOWER BOUND  {printable(reason)}")
    if totals.data_dependent_layers:
        lines.append(f"data-dependent  {data_dependent_text(report)}")
    return lines


def data_dependent_text(report: Report) -> str:
    return (f"{report.totals.data_dependent_layers} layer(s) sized by their upper bound (NonZero, NonMaxSuppression, "
            "TopK, ... outputs): their costs are upper bounds")
