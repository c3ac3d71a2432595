"""How isolated layer runtimes compose into a whole-graph runtime.

Measured on the zoo (training_data/README.md, "sum of layers vs whole"): each isolated layer
pays one `run` call's fixed cost and, on ONNX Runtime's CPU provider, a layout conversion to and
from NCHWc around every convolution; in a whole graph the layout is converted once, and
activations that follow a Conv/Gemm are fused into it. So the plain sum overestimates, most for
small and memory-bound graphs (MobileNets at batch 16: +40-60%). The estimator therefore uses

    in-graph runtime = max(scale[group] * isolated - per_layer_overhead_ms, MIN_FRACTION * isolated)

per layer, where the group is the layer type, with convolutions split into grouped/depthwise
(memory-bound) and the rest, and `other` split into ops fed directly by a Conv/Gemm/MatMul
(fusion candidates) and the rest. The scales are fitted by non-negative least squares on
relative error against the training models' end-to-end runtimes (models.csv); the overhead is
the measured cost of one `run` call (device.json). The whole graph is the sum of in-graph
runtimes, so totals stay sums of layers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from graph.schema import LAYER_TYPES

__all__ = [
    "GROUPS",
    "MIN_FRACTION",
    "PLAIN_SUM",
    "Composition",
    "composition_groups",
    "fit_composition",
    "layer_sums",
]

MIN_FRACTION = 0.05  # an in-graph runtime never drops below this share of the isolated one
GROUPS = ("convolutional", "convolutional_grouped", "pooling", "dense", "other_after_linear", "other")
LINEAR_PRODUCERS = frozenset({"Conv", "Gemm", "MatMul"})
MIN_GROUP_SHARE = 0.02  # groups with less of the training runtime keep scale 1 (too little signal to fit)


@dataclass(frozen=True)
class Composition:
    runtime_scale: dict[str, float]
    per_layer_overhead_ms: float
    summary: str

    def apply(self, isolated_ms: np.ndarray, groups: np.ndarray) -> np.ndarray:
        """In-graph runtimes of layers with these isolated runtimes and composition groups."""
        isolated = np.asarray(isolated_ms, dtype=float)
        scale = np.array([self.runtime_scale.get(str(group), 1.0) for group in groups], dtype=float)
        return np.maximum(scale * isolated - self.per_layer_overhead_ms, MIN_FRACTION * isolated)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> Composition:
        if not data:
            return PLAIN_SUM
        return cls(dict(data.get("runtime_scale", {})), float(data.get("per_layer_overhead_ms", 0.0)),
                   str(data.get("summary", "")))


PLAIN_SUM = Composition(dict.fromkeys(GROUPS, 1.0), 0.0, "sum of isolated layer runtimes")


def composition_groups(frame: pd.DataFrame, layer_type: str) -> np.ndarray:
    """The composition group of each row of a layer frame."""
    if layer_type == "convolutional" and "groups" in frame.columns:
        # Grouped and depthwise convs are memory-bound: their isolated layout conversions weigh more.
        return np.where(frame["groups"].fillna(1) > 1, "convolutional_grouped", "convolutional").astype(object)
    if layer_type != "other":
        return np.full(len(frame), layer_type, dtype=object)
    producer = frame["producer_op"] if "producer_op" in frame.columns else pd.Series("", index=frame.index)
    return np.where(producer.fillna("").isin(LINEAR_PRODUCERS), "other_after_linear", "other").astype(object)


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
    coefficients = _nnls(np.column_stack(columns) * weights[:, None], target * weights)
    scales = {g: float(coefficients[i]) for i, g in enumerate(fitted)}
    scales.update(dict.fromkeys(fixed, 1.0))
    overhead = float(coefficients[-1]) if per_layer_overhead_ms is None else float(per_layer_overhead_ms)
    how = "fitted" if per_layer_overhead_ms is None else "measured"
    text = ("in-graph runtime = isolated x (" + ", ".join(f"{g} {scales[g]:.3f}" for g in GROUPS)
            + f") minus {overhead * 1e3:.1f} us per layer ({how} call overhead); scales fitted on {len(sums)} "
            "model/batch pairs")
    return Composition(scales, overhead, text)


def _nnls(design: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least squares with non-negative coefficients (a small active-set loop; few columns)."""
    active = list(range(design.shape[1]))
    coefficients = np.zeros(design.shape[1])
    while active:
        solution, *_ = np.linalg.lstsq(design[:, active], target, rcond=None)
        if (solution >= 0).all():
            coefficients[active] = solution
            return coefficients
        active.pop(int(np.argmin(solution)))
    return coefficients
