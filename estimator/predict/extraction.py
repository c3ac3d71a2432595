"""The per-model graph work of an estimate: a model's kernels (or layers) as feature columns, ready to be scored.

This is the part of estimate_many() that an executor runs (estimator.predict.estimation): it needs only
what the profile says about reading models (ExtractionSettings, no CatBoost models) and returns plain
data that pickles cheaply (PreparedModel), so that a process pool or a Dask cluster can run it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from estimator.predict.coverage import Coverage, coverage
from estimator.predict.features import input_columns
from graph.extract import extract_layers
from graph.frames import layer_row, shape_text
from graph.kernels import FusionRules, Kernel, ModelKernels, extract_kernels
from graph.kernels.frames import kernel_row
from graph.loading import ModelSource
from graph.records import ConvLayer, DenseLayer, Layer, ModelLayers, OtherLayer, PoolLayer, UnmodeledNode, is_costed

__all__ = ["ExtractionSettings", "ModelJob", "PreparedModel", "prepare", "prepare_chunk"]


@dataclass(frozen=True)
class ModelJob:
    """One model to estimate, with the sizes of its symbolic dimensions (as estimate() takes them)."""

    model: ModelSource
    batch_size: int | None = None
    input_shapes: dict[str, tuple[int, ...]] | None = None
    dimensions: dict[str, int] | None = None


@dataclass(frozen=True)
class ExtractionSettings:
    """What reading a model needs to know of the profile: what it scores, the device's fusion rules, and
    the layer kinds it was trained on (for coverage)."""

    unit: str  # "kernels" (timed in context) or "layers" (each timed alone)
    rules: FusionRules
    layer_kinds: tuple[str, ...] | None


@dataclass(frozen=True)
class PreparedModel:
    """A model read into what scoring needs: per record (kernel or layer, in graph order) its identity and
    shape summary, and per layer type the feature rows of its records, column by column."""

    source: str
    layer_types: list[str]
    names: list[str]
    op_types: list[str]
    shapes: list[str]
    extra: dict[str, list]  # report columns of kernels: kernel, layout, fused_nodes
    positions: dict[str, list[int]]  # layer type -> the positions of its records
    features: dict[str, dict[str, list]]  # layer type -> column -> one value per record of that type (None: absent)
    nodes_total: int
    nodes_modeled: int
    nodes_free: int
    unmodeled: tuple[UnmodeledNode, ...]
    coverage: Coverage
    batch_size: int
    batch_size_assumed: bool
    input_shapes: dict[str, tuple[int, ...]]


def prepare(job: ModelJob, settings: ExtractionSettings) -> PreparedModel:
    """Read one model into what scoring needs (graph work only: no profile models are used)."""
    if settings.unit == "kernels":
        kernels = extract_kernels(job.model, settings.rules, batch_size=job.batch_size,
                                  input_shapes=job.input_shapes, dimensions=job.dimensions)
        records: Sequence[Layer] = [kernel.layer for kernel in kernels.kernels]
        rows: Iterable[dict[str, object]] = (kernel_row(kernel) for kernel in kernels.kernels)
        extra = {"kernel": [_kernel_label(kernel) for kernel in kernels.kernels],
                 "layout": [kernel.layout for kernel in kernels.kernels],
                 "fused_nodes": [len(kernel.sources) for kernel in kernels.kernels]}
        extracted: ModelKernels | ModelLayers = kernels
        modeled = sum(len(kernel.sources) for kernel in kernels.kernels)
        free = len(kernels.free)
    else:
        layers = extract_layers(job.model, batch_size=job.batch_size, input_shapes=job.input_shapes,
                                dimensions=job.dimensions)
        records = [layer for layer in layers.layers if is_costed(layer)]
        rows = (layer_row(layer) for layer in records)
        extra = {}
        extracted = layers
        modeled = len(records) + layers.absorbed_count
        free = len(layers.layers) - len(records)
    positions: dict[str, list[int]] = {}
    for position, record in enumerate(records):
        positions.setdefault(record.layer_type, []).append(position)
    # Only what scoring reads: names, shapes as text and the like would double a large model's memory.
    features: dict[str, dict[str, list]] = {layer_type: {} for layer_type in positions}
    read = {layer_type: input_columns(layer_type, settings.unit) for layer_type in positions}
    at = dict.fromkeys(positions, 0)
    for record, row in zip(records, rows, strict=True):
        layer_type = record.layer_type
        _put(features[layer_type], len(positions[layer_type]), at[layer_type], row, read[layer_type])
        at[layer_type] += 1
    return PreparedModel(
        source=extracted.source,
        layer_types=[record.layer_type for record in records],
        names=[record.name for record in records],
        op_types=[record.op_type for record in records],
        shapes=[_shape_summary(record) for record in records],
        extra=extra,
        positions=positions,
        features=features,
        nodes_total=extracted.node_count,
        nodes_modeled=modeled,
        nodes_free=free,
        unmodeled=extracted.unmodeled,
        coverage=coverage(records, extracted.unmodeled, len(extracted.data_dependent), settings.layer_kinds),
        batch_size=extracted.batch_size,
        batch_size_assumed=extracted.batch_size_assumed,
        input_shapes=dict(extracted.input_shapes),
    )


def prepare_chunk(jobs: Sequence[ModelJob], settings: ExtractionSettings) -> list[PreparedModel | Exception]:
    """prepare() for each job; a model's failure is its own item, so that one bad model spoils no other."""
    prepared: list[PreparedModel | Exception] = []
    for job in jobs:
        try:
            prepared.append(prepare(job, settings))
        except Exception as error:  # handed back as this model's result; the caller raises or reports it
            prepared.append(error)
    return prepared


def _put(columns: dict[str, list], rows: int, index: int, row: dict[str, object], read: frozenset[str]) -> None:
    """Row `index` of `rows` into columns of the final size (one row at a time: a large model's rows would not
    fit beside its records): each key in `read` that any row has, None where a row lacks it (as in a DataFrame)."""
    for key, value in row.items():
        if key not in read:
            continue
        column = columns.get(key)
        if column is None:
            columns[key] = column = [None] * rows
        column[index] = value


def _kernel_label(kernel: Kernel) -> str:
    """The runtime's op with what it absorbed, e.g. 'Conv+Relu+Sum (NCHWc)'."""
    label = kernel.op_type + (f"+{kernel.activation}" if kernel.activation else "") + ("+Sum" if kernel.has_summand else "")
    return label + (" (NCHWc)" if kernel.layout == "nchwc" and not kernel.op_type.startswith("Reorder") else "")


@functools.singledispatch
def _shape_summary(layer: Layer) -> str:
    """A layer's shapes in a few characters, for reports: one registration per layer type."""
    return ""


@_shape_summary.register(ConvLayer)
def _conv_summary(layer: ConvLayer) -> str:
    text = f"{shape_text(layer.input_chw)}->{shape_text(layer.output_chw)} k{shape_text(layer.kernel)} s{layer.stride[0]}"
    return text + (f" g{layer.groups}" if layer.groups > 1 else "")


@_shape_summary.register(PoolLayer)
def _pool_summary(layer: PoolLayer) -> str:
    if layer.is_global:
        return f"{shape_text(layer.input_chw)}->{shape_text(layer.output_chw)} global"
    return f"{shape_text(layer.input_chw)}->{shape_text(layer.output_chw)} k{shape_text(layer.kernel)} s{layer.stride[0]}"


@_shape_summary.register(DenseLayer)
def _dense_summary(layer: DenseLayer) -> str:
    return f"{layer.rows}x{layer.in_features}->{layer.out_features}"


@_shape_summary.register(OtherLayer)
def _other_summary(layer: OtherLayer) -> str:
    return shape_text(layer.output_shapes[0]) if layer.output_shapes else ""
