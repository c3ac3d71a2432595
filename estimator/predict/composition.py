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
relative error against the training models' end-to-end runtimes (models.csv, see
estimator.train.composition); the overhead is the measured cost of one `run` call
(device.json). The whole graph is the sum of in-graph runtimes, so totals stay sums of layers.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

__all__ = ["GROUPS", "MIN_FRACTION", "PLAIN_SUM", "SMALL_GRAPH_MS", "Composition", "KernelComposition",
           "composition_groups"]

MIN_FRACTION = 0.05  # an in-graph runtime never drops below this share of the isolated one
SMALL_GRAPH_MS = 1.0  # kernels of a graph whose in-graph sum is below this run faster together (KernelComposition)
GROUPS = ("convolutional", "convolutional_grouped", "pooling", "dense", "other_after_linear", "other")
LINEAR_PRODUCERS = frozenset({"Conv", "Gemm", "MatMul"})


@dataclass(frozen=True)
class Composition:
    runtime_scale: dict[str, float]
    per_layer_overhead_ms: float
    summary: str
    # In-graph power = power_scale x isolated power: an isolated layer's loop keeps a GPU less busy than a
    # whole graph does (see the GPU data card); fitted on the training models' measured energy, 1 elsewhere.
    power_scale: float = 1.0

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
                   str(data.get("summary", "")), float(data.get("power_scale", 1.0)))


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


@dataclass(frozen=True)
class KernelComposition:
    """Whole graph = per-run overhead + the sum of its kernels' in-graph runtimes.

    Kernels are timed inside whole graphs by the runtime's profiler, which adds a little to every
    kernel it times (`profiler_overhead_ms`); a run also pays a fixed cost outside any kernel
    (`run_overhead_ms`: binding inputs and outputs, the executor's start). Both are fitted on the
    training graphs' plain end-to-end runs (estimator.train.composition). A graph whose kernels sum
    to under SMALL_GRAPH_MS takes graph_scale() of that sum on every kernel.
    """

    run_overhead_ms: float
    profiler_overhead_ms: float
    summary: str
    # A graph whose kernels sum to less than SMALL_GRAPH_MS runs them faster than each is predicted: its working set
    # stays in the caches from one run to the next. log(in-graph / predicted) = exponent x log10(sum / SMALL_GRAPH_MS),
    # fitted on the training graphs (estimator.train.composition.fit_small_graph_exponent); 0: no such graph measured.
    small_graph_exponent: float = 0.0

    def in_graph(self, profiled_ms: np.ndarray) -> np.ndarray:
        """In-graph runtimes of kernels whose profiled runtimes are `profiled_ms`."""
        profiled = np.asarray(profiled_ms, dtype=float)
        return np.maximum(profiled - self.profiler_overhead_ms, MIN_FRACTION * profiled)

    def graph_scale(self, kernels_ms: float) -> float:
        """The factor every kernel of a graph takes whose in-graph kernel runtimes sum to `kernels_ms`."""
        if self.small_graph_exponent == 0.0 or not 0.0 < kernels_ms < SMALL_GRAPH_MS:
            return 1.0
        return math.exp(self.small_graph_exponent * math.log10(kernels_ms / SMALL_GRAPH_MS))

    def to_dict(self) -> dict[str, object]:
        return {"method": "kernels", **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict) -> KernelComposition:
        return cls(float(data["run_overhead_ms"]), float(data["profiler_overhead_ms"]), str(data.get("summary", "")),
                   float(data.get("small_graph_exponent", 0.0)))
