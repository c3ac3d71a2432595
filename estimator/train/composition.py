"""Fit how isolated layer runtimes compose into whole-graph runtimes (see estimator.predict.composition)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import nnls

from estimator.predict.composition import (
    GROUPS,
    PLAIN_SUM,
    SMALL_GRAPH_MS,
    Composition,
    KernelComposition,
    composition_groups,
)
from graph.schema import LAYER_TYPES

__all__ = ["MIN_GROUP_SHARE", "MIN_SMALL_GRAPHS", "fit_composition", "fit_kernel_composition", "fit_power_scale",
           "fit_small_graph_exponent", "layer_sums"]

MIN_GROUP_SHARE = 0.02  # groups with less of the training runtime keep scale 1 (too little signal to fit)
MIN_SMALL_GRAPHS = 20  # training graphs predicted under SMALL_GRAPH_MS needed to fit the small-graph exponent


def layer_sums(frames: dict[str, pd.DataFrame], models: pd.DataFrame, runtime_column: str = "runtime_ms") -> pd.DataFrame:
    """Per (model, batch): measured isolated runtime summed per group, the layer count, and the end-to-end runtime."""
    parts = []
    for layer_type in LAYER_TYPES:
        frame = frames.get(layer_type)
        if frame is None or frame.empty:
            continue
        parts.append(pd.DataFrame({"model": frame["model"], "batch_size": frame["batch_size"].astype(int),
                                   "group": composition_groups(frame, layer_type),
                                   "runtime": frame[runtime_column].astype(float)}))
    layers = pd.concat(parts, ignore_index=True)
    sums = layers.pivot_table(index=["model", "batch_size"], columns="group", values="runtime", aggfunc="sum",
                              fill_value=0.0)
    counts = layers.groupby(["model", "batch_size"]).size().rename("layers")
    table = sums.join(counts).reset_index()
    for group in GROUPS:
        if group not in table.columns:
            table[group] = 0.0
    truth = models[["model", "batch_size", "runtime_ms"]].rename(columns={"runtime_ms": "end_to_end_ms"})
    truth = truth.assign(batch_size=truth["batch_size"].astype(int))
    return truth.merge(table, on=["model", "batch_size"], how="inner")


def fit_composition(sums: pd.DataFrame, per_layer_overhead_ms: float | None = None) -> Composition:
    """Fit group scales by non-negative least squares on relative error.

    `per_layer_overhead_ms` is the measured cost of one `run` call (device.json); every isolated
    measurement includes it once, the whole graph once in total. Without it, it is fitted too.
    """
    sums = sums[sums["layers"] > 0]
    if len(sums) < 3:
        return PLAIN_SUM
    total = sums[list(GROUPS)].to_numpy(float).sum()
    fitted = [g for g in GROUPS if sums[g].sum() >= MIN_GROUP_SHARE * total]
    fixed = [g for g in GROUPS if g not in fitted]
    target = sums["end_to_end_ms"].to_numpy(float) - sums[fixed].to_numpy(float).sum(axis=1)
    columns = [sums[g].to_numpy(float) for g in fitted]
    if per_layer_overhead_ms is None:
        columns.append(-sums["layers"].to_numpy(float))
    else:
        target = target + per_layer_overhead_ms * sums["layers"].to_numpy(float)
    weights = 1.0 / sums["end_to_end_ms"].to_numpy(float)
    coefficients, _ = nnls(np.column_stack(columns) * weights[:, None], target * weights)
    scales = {g: float(coefficients[i]) for i, g in enumerate(fitted)}
    scales.update(dict.fromkeys(fixed, 1.0))
    overhead = float(coefficients[-1]) if per_layer_overhead_ms is None else float(per_layer_overhead_ms)
    how = "fitted" if per_layer_overhead_ms is None else "measured"
    text = ("in-graph runtime = isolated x (" + ", ".join(f"{g} {scales[g]:.3f}" for g in GROUPS)
            + f") minus {overhead * 1e3:.1f} us per layer ({how} call overhead); scales fitted on {len(sums)} "
            "model/batch pairs")
    return Composition(scales, overhead, text)


def fit_kernel_composition(graphs: pd.DataFrame) -> KernelComposition:
    """Per-run overhead and the profiler's per-kernel addition, from graphs timed both ways.

    For every training graph, plain end to end = run overhead + sum of profiled kernel times -
    profiler overhead x kernels; both unknowns are fitted by non-negative least squares on
    relative error (models.csv: end_to_end_ms, kernel_sum_ms, runtime_kernels).
    """
    if len(graphs) < 3:
        return KernelComposition(0.0, 0.0, "sum of kernel runtimes (too few graphs to fit overheads)")
    end_to_end = graphs["end_to_end_ms"].to_numpy(float)
    target = end_to_end - graphs["kernel_sum_ms"].to_numpy(float)
    columns = np.column_stack([np.ones(len(graphs)), -graphs["runtime_kernels"].to_numpy(float)])
    weights = 1.0 / end_to_end
    (run_overhead, profiler_overhead), _ = nnls(columns * weights[:, None], target * weights)
    text = (f"runtime = {run_overhead * 1e3:.1f} us per run + the sum of kernel runtimes inside the graph "
            f"(profiled times minus {profiler_overhead * 1e3:.2f} us of profiler overhead per kernel; both fitted "
            f"on {len(graphs)} graphs timed end to end)")
    return KernelComposition(float(run_overhead), float(profiler_overhead), text)


def fit_small_graph_exponent(predicted_ms: np.ndarray, measured_ms: np.ndarray) -> float:
    """KernelComposition.small_graph_exponent: the least-squares a >= 0 of log(measured / predicted) = a x
    log10(predicted / SMALL_GRAPH_MS) over the graphs whose predicted in-graph kernel sum is below SMALL_GRAPH_MS
    (`measured_ms`: their plain runs less the run overhead); 0 with fewer than MIN_SMALL_GRAPHS such graphs."""
    predicted = np.asarray(predicted_ms, dtype=float)
    measured = np.asarray(measured_ms, dtype=float)
    small = (predicted > 0) & (predicted < SMALL_GRAPH_MS) & (measured > 0)
    if small.sum() < MIN_SMALL_GRAPHS:
        return 0.0
    x = np.log10(predicted[small] / SMALL_GRAPH_MS)
    y = np.log(measured[small] / predicted[small])
    return float(max(0.0, (x * y).sum() / (x * x).sum()))


def fit_power_scale(frames: dict[str, pd.DataFrame], models: pd.DataFrame, composition: Composition) -> Composition:
    """`composition` with power_scale fitted so that the training models' composed layer power (the mean of
    measured layer powers weighted by in-graph runtime) matches their measured whole-model power (least
    squares on relative error). Unchanged when models.csv has no power."""
    if "power_uw" not in models.columns or models["power_uw"].isna().all():
        return composition
    parts = []
    for layer_type in LAYER_TYPES:
        frame = frames.get(layer_type)
        if frame is None or frame.empty or frame["power_w"].isna().all():
            continue
        in_graph = composition.apply(frame["runtime_ms"].to_numpy(float), composition_groups(frame, layer_type))
        parts.append(pd.DataFrame({"model": frame["model"], "batch_size": frame["batch_size"].astype(int),
                                   "energy": frame["power_w"].to_numpy(float) * in_graph, "runtime": in_graph}))
    if not parts:
        return composition
    layers = pd.concat(parts).groupby(["model", "batch_size"], as_index=False)[["energy", "runtime"]].sum()
    truth = models[["model", "batch_size", "power_uw"]].dropna().assign(batch_size=lambda f: f["batch_size"].astype(int))
    merged = truth.merge(layers, on=["model", "batch_size"])
    if len(merged) < 3:
        return composition
    ratio = (merged["energy"] / merged["runtime"]).to_numpy(float) / (merged["power_uw"].to_numpy(float) / 1e6)
    scale = float(ratio.sum() / (ratio**2).sum())  # argmin over s of sum (s * ratio - 1)^2
    summary = (f"{composition.summary}; in-graph power = {scale:.3f} x isolated power (fitted on {len(merged)} "
               "model/batch pairs' measured power)")
    return Composition(composition.runtime_scale, composition.per_layer_overhead_ms, summary, scale)
