"""The result of an estimate: per-layer rows and whole-graph totals, as data (rendering is apart)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

from graph.records import UnmodeledNode

__all__ = ["LAYER_COLUMNS", "NOT_MEASURED", "Report", "Totals"]

NOT_MEASURED = "not measured for this profile"

LAYER_COLUMNS = (
    "name", "op_type", "layer_type", "shape", "runtime_ms", "runtime_low_ms", "runtime_high_ms", "power_w",
    "energy_mj", "runtime_share", "out_of_distribution",
)


@dataclass(frozen=True)
class Totals:
    """Whole-graph figures: runtime is the sum of layers, power their runtime-weighted mean."""

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

    def to_dict(self) -> dict[str, object]:
        from estimator.render import report_dict

        return report_dict(self)

    def to_json(self) -> str:
        from estimator.render import render_json

        return render_json(self)

    def to_csv(self) -> str:
        from estimator.render import render_csv

        return render_csv(self)

    def to_markdown(self, top: int | None = None) -> str:
        from estimator.render import render_markdown

        return render_markdown(self, top)

    def to_html(self) -> str:
        from estimator.render import render_html

        return render_html(self)

    def to_table(self, top: int | None = 15) -> str:
        from estimator.render import render_table

        return render_table(self, top)

    def totals_dict(self) -> dict[str, object]:
        return asdict(self.totals)
