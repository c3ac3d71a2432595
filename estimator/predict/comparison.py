"""Several reports side by side: which model is cheaper, and where each spends its time."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from estimator.predict.breakdown import side_by_side
from estimator.predict.render.compare_html import render_comparison_html, render_comparison_html_fragment
from estimator.predict.render.summary import comparison_dict, render_summary
from estimator.predict.report import Report

__all__ = ["Comparison", "compare"]


@dataclass(frozen=True, eq=False)  # reports hold DataFrames, which have no plain equality
class Comparison:
    """Reports compared: `totals` (one row per model, cheapest first) and `by_layer_type` (long form)."""

    reports: tuple[Report, ...]

    @property
    def totals(self) -> pd.DataFrame:
        return side_by_side(self.reports)[0]

    @property
    def by_layer_type(self) -> pd.DataFrame:
        return side_by_side(self.reports)[1]

    def to_dict(self) -> list[dict[str, object]]:
        return comparison_dict(self.reports)

    def to_json(self) -> str:
        return render_summary(self.reports, "json")

    def to_csv(self) -> str:
        return render_summary(self.reports, "csv")

    def to_markdown(self) -> str:
        return render_summary(self.reports, "markdown")

    def to_table(self) -> str:
        return render_summary(self.reports, "table")

    def to_html(self) -> str:
        return render_comparison_html(self.reports)

    def _repr_html_(self) -> str:
        return render_comparison_html_fragment(self.reports)


def compare(reports: Iterable[Report]) -> Comparison:
    """Compare estimates of several models (e.g. `compare([estimate(a), estimate(b)])`)."""
    reports = tuple(reports)
    if not reports:
        raise ValueError("compare() needs at least one report")
    return Comparison(reports)
