"""Curves: a model estimated at several values of its batch size, or of one named symbolic dimension
(e.g. a sequence length), with per-sample runtime, throughput and energy per sample at each value.

The points are estimated together (estimator.predict.estimation.estimate_jobs): every point's
kernels are scored in one CatBoost call per layer type. Rendering is apart (render/curve.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

import pandas as pd

from estimator.predict.estimation import ProfileSource, estimate_jobs
from estimator.predict.extraction import ModelJob
from estimator.predict.render.curve import curve_dict, render_curve, render_curve_html_fragment
from estimator.predict.report import Report, Totals
from graph.loading import ModelSource

__all__ = ["BATCH_SIZE", "Curve", "CurvePoint", "estimate_curve"]

BATCH_SIZE = "batch_size"  # the dimension of a curve over batch sizes


@dataclass(frozen=True, eq=False)  # reports hold DataFrames, which have no plain equality
class CurvePoint:
    """One point: the swept value and the estimate there, with its per-sample figures."""

    value: int
    report: Report

    @property
    def totals(self) -> Totals:
        return self.report.totals

    @property
    def batch_size(self) -> int:
        return self.report.totals.batch_size

    @property
    def runtime_per_sample_ms(self) -> float:
        return self.totals.runtime_ms / self.batch_size

    @property
    def throughput_samples_per_s(self) -> float | None:
        """Samples per second at this point's runtime (None for a zero runtime)."""
        return 1000.0 * self.batch_size / self.totals.runtime_ms if self.totals.runtime_ms > 0 else None

    @property
    def energy_per_sample_mj(self) -> float | None:
        """None when the profile has no power models (energy not measured)."""
        return None if self.totals.energy_mj is None else self.totals.energy_mj / self.batch_size


@dataclass(frozen=True, eq=False)
class Curve:
    """One model's estimates over the values of one dimension: BATCH_SIZE, or a symbolic dimension's name."""

    dimension: str
    points: tuple[CurvePoint, ...]

    @property
    def sweeps_batch(self) -> bool:
        return self.dimension == BATCH_SIZE

    @property
    def reports(self) -> tuple[Report, ...]:
        return tuple(point.report for point in self.points)

    @property
    def power_measured(self) -> bool:
        return all(point.report.power_measured for point in self.points)

    def to_frame(self) -> pd.DataFrame:
        """One row per point (the JSON objects' fields)."""
        return pd.DataFrame(self.to_dict())

    def to_dict(self) -> list[dict[str, object]]:
        return curve_dict(self)

    def to_json(self) -> str:
        return render_curve(self, "json")

    def to_csv(self) -> str:
        return render_curve(self, "csv")

    def to_markdown(self) -> str:
        return render_curve(self, "markdown")

    def to_table(self) -> str:
        return render_curve(self, "table")

    def to_html(self) -> str:
        return render_curve(self, "html")

    def _repr_html_(self) -> str:
        return render_curve_html_fragment(self)


def estimate_curve(
    model: ModelSource,
    profile: ProfileSource = None,
    batch_size: int | Sequence[int] | None = None,
    input_shapes: dict[str, tuple[int, ...]] | None = None,
    dimensions: Mapping[str, int | Sequence[int]] | None = None,
    *,
    executor: Executor | None = None,
    threads: int | None = None,
) -> Curve:
    """estimate() at each value of the one argument given several: `batch_size=[1, 8, 32]`, or one named
    dimension's sizes, `dimensions={"sequence": [16, 64, 256]}` (other arguments as estimate() takes them).

    Points come in the order of the values; a value the model cannot take raises that point's error.
    """
    dimension, values, fixed = _swept(batch_size, dimensions)
    if dimension == BATCH_SIZE:
        jobs = [ModelJob(model, value, input_shapes, fixed or None) for value in values]
    else:
        jobs = [ModelJob(model, batch_size, input_shapes, {**fixed, dimension: value})
                for value in values]
    reports = estimate_jobs(jobs, profile, executor=executor, threads=threads)
    return Curve(dimension, tuple(CurvePoint(value, report) for value, report in zip(values, reports, strict=True)))


def _swept(batch_size, dimensions) -> tuple[str, list, dict[str, int]]:
    """(the swept dimension, its values, the dimensions that keep one size) of estimate_curve's arguments."""
    lists = {name: list(sizes) for name, sizes in dict(dimensions or {}).items() if _several(sizes)}
    fixed = {name: size for name, size in dict(dimensions or {}).items() if name not in lists}
    if _several(batch_size):
        lists = {BATCH_SIZE: list(batch_size), **lists}
    if len(lists) != 1:
        raise ValueError("estimate_curve sweeps one dimension: give several values to batch_size (e.g. [1, 8, 32]) "
                         f"or to one of dimensions (e.g. {{'sequence': [16, 64]}}), got {len(lists)}")
    ((dimension, values),) = lists.items()
    if not values:
        raise ValueError(f"estimate_curve: no values to sweep {dimension} over")
    return dimension, values, fixed


def _several(value: object) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))
