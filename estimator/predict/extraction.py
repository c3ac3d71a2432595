"""The per-model graph work of an estimate: a model's kernels (or layers) as feature columns, ready to be scored.

This is the part of estimate_many() that an executor runs (estimator.predict.estimation): it needs only
what the profile says about reading models (ExtractionSettings, no CatBoost models) and returns plain
data that pickles cheaply (PreparedModel), so that a process pool or a Dask cluster can run it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from estimator.predict.coverage import Coverage, coverage
from estimator.predict.units import UNITS
from graph.collector import collector_paused
from graph.frames import shape_text
from graph.kernels import FusionRules
from graph.loading import ModelSource
from graph.records import ConvLayer, DenseLayer, Layer, OtherLayer, PoolLayer, UnmodeledNode

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

    unit: str  # what the profile scores, by name (a key of estimator.predict.units.UNITS): settings pickle as data
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


@collector_paused()
def prepare(job: ModelJob, settings: ExtractionSettings) -> PreparedModel:
    """Read one model into what scoring needs (graph work only: no profile models are used)."""
    unit = UNITS[settings.unit]
    read = unit.read(job.model, settings.rules, job.batch_size, job.input_shapes, job.dimensions)
    records, extracted = read.records, read.model
    positions: dict[str, list[int]] = {}
    for position, record in enumerate(records):
        positions.setdefault(record.layer_type, []).append(position)
    # Only what scoring reads: names, shapes as text and the like would double a large model's memory.
    features: dict[str, dict[str, list]] = {layer_type: {} for layer_type in positions}
    wanted = {layer_type: unit.input_columns(layer_type) for layer_type in positions}
    at = dict.fromkeys(positions, 0)
    for record, row in zip(records, read.rows, strict=True):
        layer_type = record.layer_type
        _put(features[layer_type], len(positions[layer_type]), at[layer_type], row, wanted[layer_type])
        at[layer_type] += 1
    return PreparedModel(
        source=extracted.source,
        layer_types=[record.layer_type for record in records],
        names=[record.name for record in records],
        op_types=[record.op_type for record in records],
        shapes=[_shape_summary(record) for record in records],
        extra=read.extra,
        positions=positions,
        features=features,
        nodes_total=extracted.node_count,
        nodes_modeled=read.nodes_modeled,
        nodes_free=read.nodes_free,
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
