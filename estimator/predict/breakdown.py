"""Where the time goes: a Report's layers summed by layer type, op type or kernel, its top layers, and
several reports side by side. Pure functions over reports, shared by every renderer."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from estimator.predict.report import Report

__all__ = [
    "GROUP_COLUMNS",
    "RUN_OVERHEAD",
    "cost_by",
    "device_note",
    "is_lower_bound",
    "model_title",
    "ranked",
    "run_overhead_ms",
    "side_by_side",
    "top_layers",
    "unique_titles",
]

GROUP_COLUMNS = ("group", "layers", "runtime_ms", "runtime_low_ms", "runtime_high_ms", "runtime_share", "energy_mj")
RUN_OVERHEAD = "run overhead"  # the group name of a per-run constant, when the profile has one


def run_overhead_ms(report: Report) -> float:
    """The per-run constant the totals add to the sum of layers (0 for profiles without one)."""
    return float(getattr(report.totals, "run_overhead_ms", None) or 0.0)


def device_note(report: Report) -> str | None:
    """The report's line about where its profile was measured (e.g. on another machine), if it has one."""
    note = getattr(report, "device_note", None)
    return str(note) if note else None


def is_lower_bound(report: Report) -> bool:
    """True when nodes were left unmodeled, or too little of the compute is modeled (estimator.predict.coverage)."""
    return report.totals.nodes_unmodeled > 0 or bool(getattr(report.totals, "lower_bound", False))


def model_title(model: str) -> str:
    """The model's file name: a report shows no folder of the user's machine."""
    return re.split(r"[\\/]", str(model).rstrip("\\/"))[-1] or str(model)


def unique_titles(models: Sequence[str]) -> list[str]:
    """File names, with as many parent folders as it takes to tell equal names apart."""
    parts = [[p for p in re.split(r"[\\/]", str(m)) if p] or [str(m)] for m in models]
    depth = [1] * len(parts)
    while True:
        titles = ["/".join(p[-d:]) for p, d in zip(parts, depth, strict=True)]
        paths: dict[str, set[str]] = {}
        for title, p in zip(titles, parts, strict=True):
            paths.setdefault(title, set()).add("/".join(p))
        grow = [i for i, t in enumerate(titles) if len(paths[t]) > 1 and depth[i] < len(parts[i])]
        if not grow:
            break
        for i in grow:
            depth[i] += 1
    seen: dict[str, int] = {}
    unique = []
    for title in titles:  # the same file given twice: number the repeats
        seen[title] = seen.get(title, 0) + 1
        unique.append(title if seen[title] == 1 else f"{title} ({seen[title]})")
    return unique


def cost_by(report: Report, column: str) -> pd.DataFrame:
    """The layers summed by `column` (GROUP_COLUMNS), most expensive first; a run overhead is its own row.

    Intervals are sums of the layers' bounds, as in the totals; shares are of the total runtime;
    energy is None when the profile did not measure power.
    """
    layers = report.layers
    if column not in layers.columns or layers.empty:
        frame = pd.DataFrame(columns=list(GROUP_COLUMNS))
    else:
        keys = layers[column].astype(object).where(layers[column].notna(), "").astype(str)
        grouped = layers.assign(group=keys).groupby("group", sort=False)
        frame = pd.DataFrame({
            "layers": grouped.size(),
            "runtime_ms": grouped["runtime_ms"].sum(),
            "runtime_low_ms": grouped["runtime_low_ms"].sum(),
            "runtime_high_ms": grouped["runtime_high_ms"].sum(),
            "energy_mj": grouped["energy_mj"].sum(min_count=1),
        }).reset_index()
    overhead = run_overhead_ms(report)
    if overhead > 0:
        frame = pd.concat([frame, pd.DataFrame([{
            "group": RUN_OVERHEAD, "layers": 0, "runtime_ms": overhead, "runtime_low_ms": overhead,
            "runtime_high_ms": overhead, "energy_mj": float("nan")}])], ignore_index=True)
    total = report.totals.runtime_ms
    frame["runtime_share"] = frame["runtime_ms"] / total if total > 0 else 0.0
    frame["energy_mj"] = frame["energy_mj"].astype(object).where(
        report.power_measured & frame["energy_mj"].notna(), None)
    frame["layers"] = frame["layers"].astype(int)
    return frame.sort_values("runtime_ms", ascending=False, kind="stable", ignore_index=True)[list(GROUP_COLUMNS)]


def top_layers(report: Report, count: int | None) -> pd.DataFrame:
    """The `count` slowest layers (all when count is None or 0), with `position`: 1-based, in graph order."""
    layers = report.layers.reset_index(drop=True)
    layers = layers.assign(position=range(1, len(layers) + 1))
    layers = layers.sort_values("runtime_ms", ascending=False, kind="stable")
    return layers if not count or count <= 0 else layers.head(count)


def ranked(reports: Sequence[Report]) -> list[tuple[str, Report]]:
    """(title, report), cheapest whole-graph runtime first; titles are unique file names."""
    titles = unique_titles([r.model for r in reports])
    order = sorted(range(len(reports)), key=lambda i: reports[i].totals.runtime_ms)
    return [(titles[i], reports[i]) for i in order]


def side_by_side(reports: Sequence[Report]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Several reports compared: (totals, one row per model, cheapest first; by layer type, long form).

    The layer types are ordered by their mean share of the models' runtimes, largest first.
    """
    rows, parts = [], []
    entries = ranked(reports)
    fastest = min((r.totals.runtime_ms for _, r in entries), default=0.0)
    lowest_energy = min((r.totals.energy_mj for _, r in entries if r.totals.energy_mj is not None), default=None)
    for title, report in entries:
        totals = report.totals
        rows.append({
            "model": report.model, "title": title, "profile": report.profile_id, "device": report.device,
            "device_note": device_note(report), "batch_size": totals.batch_size,
            "batch_size_assumed": totals.batch_size_assumed, "runtime_ms": totals.runtime_ms,
            "runtime_low_ms": totals.runtime_low_ms, "runtime_high_ms": totals.runtime_high_ms,
            "runtime_vs_fastest": totals.runtime_ms / fastest if fastest > 0 else None,
            "power_w": totals.power_w, "energy_mj": totals.energy_mj,
            "energy_vs_lowest": (totals.energy_mj / lowest_energy
                                 if totals.energy_mj is not None and lowest_energy else None),
            "power_measured": report.power_measured, "layers": totals.nodes_modeled,
            "unmodeled": totals.nodes_unmodeled, "unmodeled_by_op": dict(totals.unmodeled_by_op),
            "out_of_distribution": totals.layers_out_of_distribution, "lower_bound": is_lower_bound(report),
            "macs_modeled_share": totals.macs_modeled_share, "lower_bound_reasons": list(totals.lower_bound_reasons),
        })
        parts.append(cost_by(report, "layer_type").rename(columns={"group": "layer_type"}).assign(title=title))
    totals_frame = pd.DataFrame(rows)
    by_type = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["title", "layer_type"])
    if not by_type.empty:
        mean_share = by_type.groupby("layer_type", sort=False)["runtime_share"].sum() / len(entries)
        order = {t: i for i, t in enumerate(mean_share.sort_values(ascending=False, kind="stable").index)}
        by_type = by_type.assign(_order=by_type["layer_type"].map(order), _model=by_type["title"].map(
            {title: i for i, (title, _) in enumerate(entries)}))
        by_type = by_type.sort_values(["_order", "_model"], kind="stable", ignore_index=True).drop(
            columns=["_order", "_model"])
    return totals_frame, by_type[["title", *[c for c in by_type.columns if c != "title"]]]
