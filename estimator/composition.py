"""How isolated layer runtimes compose into a whole-graph runtime.

Measured on the zoo (training_data/README.md, "sum of layers vs whole"): every isolated
measurement carries one `run` call's fixed cost, and runtimes fuse cheap element-wise ops
into their neighbours, so the plain sum overestimates small graphs. The fitted model is

    in-graph runtime of a layer = max(scale[type] * isolated - per_layer_overhead_ms, floor * isolated)

with the scales and the overhead fitted by least squares on relative error over the training
models' end-to-end runtimes (models.csv). The whole graph is then the sum of in-graph runtimes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from graph.schema import LAYER_TYPES

__all__ = ["MIN_FRACTION", "PLAIN_SUM", "Composition", "fit_composition", "layer_sums"]

MIN_FRACTION = 0.05  # an in-graph runtime never drops below this share of the isolated one


@dataclass(frozen=True)
class Composition:
    runtime_scale: dict[str, float]
    per_layer_overhead_ms: float
    summary: str

    def apply(self, isolated_ms: np.ndarray, layer_type: str) -> np.ndarray:
        scaled = self.runtime_scale.get(layer_type, 1.0) * np.asarray(isolated_ms, dtype=float)
        return np.maximum(scaled - self.per_layer_overhead_ms, MIN_FRACTION * np.asarray(isolated_ms, dtype=float))

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> Composition:
        if not data:
            return PLAIN_SUM
        return cls(dict(data.get("runtime_scale", {})), float(data.get("per_layer_overhead_ms", 0.0)),
                   str(data.get("summary", "")))


PLAIN_SUM = Composition({t: 1.0 for t in LAYER_TYPES}, 0.0, "sum of isolated layer runtimes")


def layer_sums(frames: dict[str, pd.DataFrame], models: pd.DataFrame, runtime_column: str = "runtime_ms") -> pd.DataFrame:
    """Per (model, batch): the sum of measured isolated runtimes per layer type, the layer count and the e2e runtime."""
    rows = []
    for record in models.itertuples(index=False):
        row: dict[str, object] = {"model": record.model, "batch_size": int(record.batch_size),
                                  "end_to_end_ms": float(record.runtime_ms), "layers": 0}
        for layer_type in LAYER_TYPES:
            frame = frames.get(layer_type)
            if frame is None or frame.empty:
                row[layer_type] = 0.0
                continue
            part = frame[(frame["model"] == record.model) & (frame["batch_size"] == record.batch_size)]
            row[layer_type] = float(part[runtime_column].sum())
            row["layers"] = int(row["layers"]) + len(part)
        rows.append(row)
    return pd.DataFrame(rows)


def fit_composition(sums: pd.DataFrame) -> Composition:
    """Fit per-type scales and a per-layer overhead on relative error (least squares, non-negative)."""
    sums = sums[sums["layers"] > 0]
    if len(sums) < 3:
        return PLAIN_SUM
    types = [t for t in LAYER_TYPES if sums[t].sum() > 0]
    target = sums["end_to_end_ms"].to_numpy(float)
    design = np.column_stack([sums[t].to_numpy(float) for t in types] + [-sums["layers"].to_numpy(float)])
    weights = 1.0 / target
    active = list(range(design.shape[1]))
    coefficients = np.zeros(design.shape[1])
    while active:
        solution, *_ = np.linalg.lstsq(design[:, active] * weights[:, None], target * weights, rcond=None)
        if (solution >= 0).all():
            coefficients[:] = 0
            coefficients[active] = solution
            break
        active.pop(int(np.argmin(solution)))  # drop the most negative term and refit (a small NNLS)
    scales = {t: float(coefficients[i]) for i, t in enumerate(types)}
    for t in LAYER_TYPES:
        scales.setdefault(t, 1.0)
    overhead = float(coefficients[-1])
    text = ("in-graph runtime = " + ", ".join(f"{t} x{scales[t]:.3f}" for t in types)
            + f", minus {overhead * 1e3:.1f} us per layer (fitted on {len(sums)} training model/batch pairs)")
    return Composition(scales, overhead, text)
