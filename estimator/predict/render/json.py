"""Report -> JSON: stable field names, units in the names."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from estimator.predict.breakdown import cost_by
from estimator.predict.render.common import NOT_MEASURED, number

if TYPE_CHECKING:
    from estimator.predict.report import Report

__all__ = ["render_json", "report_dict"]


def report_dict(report: Report) -> dict[str, object]:
    """The JSON document: stable field names, units in the names."""
    totals = report.totals
    layers = []
    for row in report.layers.itertuples(index=False):
        layers.append({
            "name": row.name,
            "op_type": row.op_type,
            "layer_type": row.layer_type,
            "shape": row.shape,
            "runtime_ms": number(row.runtime_ms, 6),
            "runtime_low_ms": number(row.runtime_low_ms, 6),
            "runtime_high_ms": number(row.runtime_high_ms, 6),
            "power_w": number(row.power_w, 4) if report.power_measured else None,
            "energy_mj": number(row.energy_mj, 6) if report.power_measured else None,
            "runtime_share": number(row.runtime_share, 6),
            "out_of_distribution": bool(row.out_of_distribution),
        })
    return {
        "model": report.model,
        "profile": report.profile_id,
        "device": report.device,
        "device_note": report.device_note,
        "power_measured": report.power_measured,
        "power_note": None if report.power_measured else NOT_MEASURED,
        "batch_size": totals.batch_size,
        "batch_size_assumed": totals.batch_size_assumed,
        "input_shapes": {name: list(shape) for name, shape in report.input_shapes.items()},
        "composition": report.composition,
        "totals": {
            "runtime_ms": number(totals.runtime_ms, 6),
            "runtime_low_ms": number(totals.runtime_low_ms, 6),
            "runtime_high_ms": number(totals.runtime_high_ms, 6),
            "power_w": number(totals.power_w, 4),
            "energy_mj": number(totals.energy_mj, 6),
            "run_overhead_ms": number(totals.run_overhead_ms, 6),  # in runtime_ms, outside every layer
            "layers_out_of_distribution": totals.layers_out_of_distribution,
            "macs_total": totals.macs_total,
            "macs_modeled": totals.macs_modeled,
            "macs_modeled_share": number(totals.macs_modeled_share, 6),
            "lower_bound": totals.lower_bound,
            "lower_bound_reasons": list(totals.lower_bound_reasons),
            "data_dependent_layers": totals.data_dependent_layers,
            "runtime_share_out_of_distribution": number(totals.runtime_share_out_of_distribution, 6),
        },
        "nodes": {
            "total": totals.nodes_total,
            "modeled": totals.nodes_modeled,
            "free": totals.nodes_free,
            "unmodeled": totals.nodes_unmodeled,
            "unmodeled_by_op": totals.unmodeled_by_op,
        },
        "unmodeled": [{"name": n.name, "op_type": n.op_type, "reason": n.reason} for n in report.unmodeled],
        "by_layer_type": _groups(report, "layer_type"),
        "by_op_type": _groups(report, "op_type"),
        "layers": layers,
    }


def _groups(report: Report, column: str) -> list[dict[str, object]]:
    """Runtime (and energy) summed by a layer column, most expensive first."""
    return [{column: row.group, "layers": row.layers, "runtime_ms": number(row.runtime_ms, 6),
             "runtime_low_ms": number(row.runtime_low_ms, 6), "runtime_high_ms": number(row.runtime_high_ms, 6),
             "runtime_share": number(row.runtime_share, 6), "energy_mj": number(row.energy_mj, 6)}
            for row in cost_by(report, column).itertuples(index=False)]


def render_json(report: Report) -> str:
    return json.dumps(report_dict(report), indent=2) + "\n"
