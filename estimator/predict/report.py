"""The result of an estimate: per-layer rows and whole-graph totals, as data (rendering is apart).

This module imports no renderer: renderers depend on the Report, never the reverse. Report.to_json() and the
like look up the function that estimator.predict.render registered for their format (estimator.predict.formats).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from estimator.predict.formats import DEFAULT_TOP, renderer
from graph.records import UnmodeledNode

__all__ = ["KERNEL_REPORT_COLUMNS", "LAYER_COLUMNS", "Report", "Totals"]

LAYER_COLUMNS = (
    "name", "op_type", "layer_type", "shape", "runtime_ms", "runtime_low_ms", "runtime_high_ms", "power_w",
    "energy_mj", "runtime_share", "out_of_distribution",
)
# Added after LAYER_COLUMNS when the profile scores kernels: the runtime's op (with what it fused),
# its layout, and how many model nodes the kernel computes.
KERNEL_REPORT_COLUMNS = ("kernel", "layout", "fused_nodes")


@dataclass(frozen=True)
class Totals:
    """Whole-graph figures: runtime is the sum of layers (plus the per-run overhead), power their runtime-weighted mean."""

    runtime_ms: float
    runtime_low_ms: float
    runtime_high_ms: float
    power_w: float | None  # None: the profile has no power models
    energy_mj: float | None
    nodes_total: int
    nodes_modeled: int
    nodes_free: int
    nodes_unmodeled: int
    unmodeled_by_op: dict[str, int]
    layers_out_of_distribution: int
    batch_size: int
    batch_size_assumed: bool
    run_overhead_ms: float = 0.0  # a per-run cost outside every layer, included in runtime_ms
    # Coverage (estimator.predict.coverage): MACs of all layers and sized unmodeled nodes, and those the
    # profile was trained for; lower_bound when the total misses real compute, with the reasons.
    macs_total: int = 0
    macs_modeled: int = 0
    lower_bound: bool = False
    lower_bound_reasons: tuple[str, ...] = ()
    data_dependent_layers: int = 0  # sizes set to their upper bound (graph/shapes.py)

    runtime_share_out_of_distribution: float = 0.0  # share of runtime_ms from layers outside the training ranges

    @property
    def macs_modeled_share(self) -> float:
        """Share of the model's MACs that layers of kinds the profile was trained on compute (1.0 without MACs)."""
        return self.macs_modeled / self.macs_total if self.macs_total else 1.0


@dataclass(frozen=True)
class Report:
    """What `estimate` returns: a DataFrame of layers (LAYER_COLUMNS) and the totals."""

    model: str
    profile_id: str
    device: str
    power_measured: bool
    layers: pd.DataFrame
    totals: Totals
    unmodeled: tuple[UnmodeledNode, ...]
    input_shapes: dict[str, tuple[int, ...]]
    composition: str
    device_note: str | None = None  # one line when the profile was measured on another machine

    def to_dict(self) -> dict[str, object]:
        return renderer("dict")(self, None)

    def to_json(self) -> str:
        return renderer("json")(self, None)

    def to_csv(self) -> str:
        return renderer("csv")(self, None)

    def to_markdown(self, top: int | None = None) -> str:
        return renderer("markdown")(self, top)

    def to_html(self, top: int | None = DEFAULT_TOP) -> str:
        return renderer("html")(self, top)

    def _repr_html_(self) -> str:
        """Jupyter shows the report as its HTML page's content."""
        return renderer("html_fragment")(self, DEFAULT_TOP)

    def to_table(self, top: int | None = 15) -> str:
        return renderer("table")(self, top)
