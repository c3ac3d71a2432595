"""Whole graphs from kernel rows: held-out splits by graph (zoo model, generated family), predicted and composed.

Training data timed in context (estimator.measure.kernel_collector) holds every kernel of every
graph, measured or not, and models.csv holds each graph's plain end-to-end time. A split trains
the regressors and the composition on the graphs it keeps, then predicts every kernel of the
graphs it holds out and adds them up as `estimate` does: nothing of a test graph leaks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from estimator.predict.composition import SMALL_GRAPH_MS, KernelComposition
from estimator.predict.models import LayerModels, predict_features
from estimator.train.baselines import MacsBaseline
from estimator.train.composition import fit_kernel_composition, fit_small_graph_exponent
from estimator.train.data import TrainingData
from estimator.train.fitting import Fit, fit_layer_models

__all__ = ["GRAPH_KEY", "GraphSplit", "compose_graphs", "fitted_composition", "graph_predictions", "graph_table",
           "held_out_graphs", "rows_of_graphs"]

GRAPH_KEY = ["model", "batch_size"]
Mask = Callable[[pd.DataFrame], pd.Series]  # rows (kernels or graphs) -> held out?


@dataclass(frozen=True)
class GraphSplit:
    """Per-kernel and per-graph predictions for graphs that training never saw."""

    kernels: pd.DataFrame  # layer_type, model, batch_size, runtime_ms, predicted_ms, in_graph_ms, macs_ms
    graphs: pd.DataFrame  # model, batch_size, source, family, end_to_end_ms, predicted_ms, error_pct, ...


def graph_table(data: TrainingData) -> pd.DataFrame:
    """models.csv with its training sources (zoo, generated; unseen graphs are not training data)."""
    if data.models is None:
        return pd.DataFrame(columns=["model", "batch_size", "source", "family", "end_to_end_ms"])
    return data.models[data.models["source"].isin(("zoo", "generated"))].reset_index(drop=True)


def held_out_graphs(data: TrainingData, held_out: Mask, trains: Mask | None = None,
                    params: dict | None = None, fit: Fit | None = None) -> GraphSplit:
    """Fit on the graphs `held_out` rejects (and `trains` accepts), predict the held-out ones.

    `fit` replaces the default fit from scratch (e.g. a transfer from a base profile)."""
    graphs = graph_table(data)
    test_graphs = graphs[held_out(graphs)]
    train_graphs = graphs[~held_out(graphs)]
    if trains is not None:
        train_graphs = train_graphs[trains(train_graphs)]
    train_keys = set(map(tuple, train_graphs[GRAPH_KEY].to_numpy().tolist()))
    test_keys = set(map(tuple, test_graphs[GRAPH_KEY].to_numpy().tolist()))
    train_frames = {t: rows_of_graphs(frame, train_keys) for t, frame in data.frames.items()}
    test_frames = {t: rows_of_graphs(frame, test_keys) for t, frame in data.frames.items()}
    models = fit(train_frames) if fit is not None else fit_layer_models(train_frames, params, data.unit)
    composition = fitted_composition(models, train_frames, train_graphs)
    kernels = graph_predictions(models, composition, test_frames, train_frames)
    return GraphSplit(kernels, compose_graphs(kernels, test_graphs, composition))


def fitted_composition(models: LayerModels, frames: dict[str, pd.DataFrame], graphs: pd.DataFrame) -> KernelComposition:
    """The kernel composition of the training `graphs`: the overheads from their measured kernels, then the
    small-graph exponent from `models`' predictions of the same graphs' kernels (`frames`) against their plain runs."""
    composition = fit_kernel_composition(graphs)
    composed = compose_graphs(graph_predictions(models, composition, frames), graphs, composition)
    if composed.empty:
        return composition
    measured = composed["end_to_end_ms"].to_numpy(float) - composition.run_overhead_ms
    exponent = fit_small_graph_exponent(composed["in_graph_sum_ms"].to_numpy(float), measured)
    if exponent == 0.0:
        return composition
    summary = (f"{composition.summary}; a graph whose kernels sum to s < {SMALL_GRAPH_MS:g} ms takes "
               f"exp({exponent:.3f} x log10(s / {SMALL_GRAPH_MS:g} ms)) times s (fitted on the same graphs)")
    return replace(composition, small_graph_exponent=exponent, summary=summary)


def graph_predictions(models: LayerModels, composition: KernelComposition, frames: dict[str, pd.DataFrame],
                      baseline_frames: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """Every kernel row of `frames` predicted (profiled ms) and placed in its graph (in-graph ms).

    `baseline_frames` are the training rows: they fit the MACs baseline, and kernels of more MACs than any measured
    one of their type are scored as `estimate` scores them (estimator.predict.models.predict_features, `beyond`)."""
    parts = []
    for layer_type, frame in frames.items():
        if frame.empty or (layer_type not in models.runtime and layer_type not in models.constant_runtime_ms):
            continue
        train = (baseline_frames or {}).get(layer_type)
        measured = train[train["runtime_ms"].notna()] if train is not None else None
        features = models.unit.featurize(frame, layer_type)
        beyond = None
        if measured is not None and not measured.empty and "macs" in features.columns:
            largest = float(models.unit.featurize(measured, layer_type)["macs"].max())
            beyond = features["macs"].to_numpy(dtype="float64") > largest
        predicted = predict_features(models, features, layer_type, beyond)["runtime_ms"].to_numpy(float)
        part = pd.DataFrame({
            "layer_type": layer_type,
            "model": frame["model"].to_numpy(),
            "batch_size": frame["graph_batch_size"].to_numpy(int),
            "runtime_ms": frame["runtime_ms"].to_numpy(float),
            "predicted_ms": predicted,
            "in_graph_ms": composition.in_graph(predicted),
        })
        if measured is not None and len(measured) >= 2:
            macs = MacsBaseline(layer_type).fit(measured, measured["runtime_ms"].to_numpy(float))
            part["macs_ms"] = np.maximum(macs.predict(frame), 0.0)
        parts.append(part)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def rows_of_graphs(frame: pd.DataFrame, keys: set[tuple]) -> pd.DataFrame:
    """The kernel rows of the graphs named by (model, batch size) `keys`."""
    if frame.empty:
        return frame
    mask = [(model, int(batch)) in keys for model, batch in zip(frame["model"], frame["graph_batch_size"], strict=True)]
    return frame[np.asarray(mask, dtype=bool)].reset_index(drop=True)


def compose_graphs(kernels: pd.DataFrame, graphs: pd.DataFrame, composition: KernelComposition) -> pd.DataFrame:
    """Graph totals three ways: kernels only, + run overhead, and + run overhead - profiler overhead (ours)."""
    if kernels.empty or graphs.empty:
        return pd.DataFrame()
    aggregations = {"kernel_sum_predicted_ms": ("predicted_ms", "sum"), "in_graph_sum_ms": ("in_graph_ms", "sum"),
                    "kernels_predicted": ("predicted_ms", "size")}
    if "macs_ms" in kernels.columns:
        aggregations["macs_ms"] = ("macs_ms", "sum")
    sums = kernels.groupby(GRAPH_KEY, as_index=False).agg(**aggregations)
    merged = graphs.merge(sums, on=GRAPH_KEY, how="inner")
    scale = merged["in_graph_sum_ms"].map(composition.graph_scale)
    merged["predicted_ms"] = composition.run_overhead_ms + merged["in_graph_sum_ms"] * scale
    merged["kernels_only_ms"] = merged["kernel_sum_predicted_ms"]
    merged["plus_run_overhead_ms"] = composition.run_overhead_ms + merged["kernel_sum_predicted_ms"]
    for column in ("predicted_ms", "kernels_only_ms", "plus_run_overhead_ms", "macs_ms"):
        if column in merged.columns:
            merged[column.removesuffix("_ms") + "_error_pct"] = (merged[column] / merged["end_to_end_ms"] - 1) * 100
    return merged
