"""The unit of estimation: what a profile scores, as one object that reading models, scoring and training share.

- LAYERS: each compute node's layer timed alone (a one-node model); a graph is its layers' isolated runtimes placed
  in the graph by fitted group scales (estimator.predict.composition.Composition).
- KERNELS: the kernels the device's runtime executes (its fusion rules, layouts), each timed inside whole graphs; a
  graph is the run overhead plus its kernels' profiled runtimes less the profiler's overhead (KernelComposition).

A profile names its unit (profile.json "unit"); `UNITS[name]` is the object. Each unit is one registered object,
compared by identity; estimator.train registers how each is trained (estimator.train.units).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from estimator.predict.composition import Composition, KernelComposition, composition_groups
from estimator.predict.features import (
    CATEGORICAL,
    FEATURES,
    KERNEL_CATEGORICAL,
    KERNEL_FEATURES,
    featurize_kernels,
    featurize_layers,
    kernel_input_columns,
    layer_input_columns,
)
from graph.extract import extract_layers
from graph.frames import layer_row
from graph.kernels import FusionRules, Kernel, ModelKernels, extract_kernels
from graph.kernels.frames import kernel_row
from graph.loading import ModelSource
from graph.records import Layer, ModelLayers, is_costed

__all__ = ["KERNELS", "LAYERS", "UNITS", "Placement", "Records", "Unit"]


@dataclass(frozen=True)
class Records:
    """One model read into the records a unit scores, in graph order, with one feature row each."""

    records: Sequence[Layer]
    rows: Iterable[dict[str, object]]  # the feature columns only (graph.frames.layer_row's described=False)
    extra: dict[str, list]  # the unit's own report columns (kernels: kernel, layout, fused_nodes)
    nodes_modeled: int
    nodes_free: int
    model: ModelKernels | ModelLayers


@dataclass(frozen=True)
class Placement:
    """How a profile puts its scored records into a graph: in-graph runtimes, plus a per-run overhead."""

    run_overhead_ms: float
    power_scale: float
    summary: str
    in_graph: Callable[[np.ndarray, pd.DataFrame, str], np.ndarray]  # (scored ms, the rows' frame, layer type) -> ms
    graph_scale: Callable[[float], float]  # a graph's summed in-graph ms -> the factor all its records take


@dataclass(frozen=True)
class Unit:
    name: str
    features: Mapping[str, tuple[str, ...]]  # layer type -> feature columns, in the regressors' order
    categorical: Mapping[str, tuple[str, ...]]  # layer type -> the categorical ones among them
    featurize: Callable[[pd.DataFrame, str], pd.DataFrame]  # (rows of one layer type, the type) -> `features` columns
    input_columns: Callable[[str], frozenset[str]]  # layer type -> the columns of its rows featurize and placement read
    # Runtime regressors predict log runtime relative to a linear baseline in the work columns (fitted per type).
    relative_to_baseline: bool
    read: Callable[[ModelSource, FusionRules, int | None, dict | None, dict | None], Records]
    placement: Callable[[dict], Placement]  # the manifest's "composition" -> how records compose
    # Training data: the column only this unit's rows carry (None: the seed's layer rows, which carry none), and
    # whether its records are timed inside whole graphs, so that a graph keeps the rows of records left untimed.
    marker_column: str | None
    in_graphs: bool


def _read_kernels(model: ModelSource, rules: FusionRules, batch_size: int | None, input_shapes: dict | None,
                  dimensions: dict | None) -> Records:
    kernels = extract_kernels(model, rules, batch_size=batch_size, input_shapes=input_shapes, dimensions=dimensions)
    extra = {"kernel": [_kernel_label(kernel) for kernel in kernels.kernels],
             "layout": [kernel.layout for kernel in kernels.kernels],
             "fused_nodes": [len(kernel.sources) for kernel in kernels.kernels]}
    return Records([kernel.layer for kernel in kernels.kernels],
                   (kernel_row(kernel, described=False) for kernel in kernels.kernels), extra,
                   sum(len(kernel.sources) for kernel in kernels.kernels), len(kernels.free), kernels)


def _read_layers(model: ModelSource, rules: FusionRules, batch_size: int | None, input_shapes: dict | None,
                 dimensions: dict | None) -> Records:
    layers = extract_layers(model, batch_size=batch_size, input_shapes=input_shapes, dimensions=dimensions)
    records = [layer for layer in layers.layers if is_costed(layer)]
    return Records(records, (layer_row(layer, described=False) for layer in records), {}, len(records) + layers.absorbed_count,
                   len(layers.layers) - len(records), layers)


def _kernel_label(kernel: Kernel) -> str:
    """The runtime's op with what it absorbed, e.g. 'Conv+Relu+Sum (NCHWc)'."""
    label = kernel.op_type + (f"+{kernel.activation}" if kernel.activation else "") + ("+Sum" if kernel.has_summand else "")
    return label + (" (NCHWc)" if kernel.layout == "nchwc" and not kernel.op_type.startswith("Reorder") else "")


def _kernel_placement(composition: dict) -> Placement:
    fitted = KernelComposition.from_dict(composition)
    return Placement(fitted.run_overhead_ms, 1.0, fitted.summary,
                     lambda runtime_ms, frame, layer_type: fitted.in_graph(runtime_ms), fitted.graph_scale)


def _layer_placement(composition: dict | None) -> Placement:
    fitted = Composition.from_dict(composition)
    return Placement(0.0, fitted.power_scale, fitted.summary,
                     lambda runtime_ms, frame, layer_type: fitted.apply(runtime_ms, composition_groups(frame, layer_type)),
                     lambda kernels_ms: 1.0)


LAYERS = Unit("layers", FEATURES, CATEGORICAL, featurize_layers, layer_input_columns, relative_to_baseline=False,
              read=_read_layers, placement=_layer_placement, marker_column=None, in_graphs=False)
KERNELS = Unit("kernels", KERNEL_FEATURES, KERNEL_CATEGORICAL, featurize_kernels, kernel_input_columns,
               relative_to_baseline=True, read=_read_kernels, placement=_kernel_placement, marker_column="kernel_op",
               in_graphs=True)
UNITS: dict[str, Unit] = {unit.name: unit for unit in (LAYERS, KERNELS)}
