"""Typed, frozen records: one per layer that graph/ extracts from a model."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

__all__ = [
    "ConvLayer",
    "DenseLayer",
    "Layer",
    "LayerType",
    "ModelLayers",
    "OtherLayer",
    "PoolLayer",
    "UnmodeledNode",
    "is_costed",
]

LayerType = Literal["convolutional", "pooling", "dense", "other"]

Shape = tuple[int, ...]
AttributeValue = int | float | str | tuple[int, ...] | tuple[float, ...] | tuple[str, ...]


@dataclass(frozen=True)
class Layer:
    """Fields every layer record carries: identity, position and element type."""

    name: str
    op_type: str
    index: int
    dtype: str
    batch_size: int

    layer_type: ClassVar[LayerType] = "other"


@dataclass(frozen=True)
class ConvLayer(Layer):
    """A 2-D convolution (a 1-D one is read as height 1)."""

    input_chw: tuple[int, int, int]
    output_chw: tuple[int, int, int]
    kernel: tuple[int, int]
    pads: tuple[int, int, int, int]  # begin_h, begin_w, end_h, end_w
    stride: tuple[int, int]
    dilation: tuple[int, int]
    groups: int
    has_bias: bool
    dtype_bytes: int

    layer_type: ClassVar[LayerType] = "convolutional"

    @property
    def padding(self) -> tuple[int, int]:
        """Begin + end padding per axis (the seed's convention)."""
        return (self.pads[0] + self.pads[2], self.pads[1] + self.pads[3])

    @property
    def params(self) -> int:
        weights = self.output_chw[0] * (self.input_chw[0] // self.groups) * self.kernel[0] * self.kernel[1]
        return weights + (self.output_chw[0] if self.has_bias else 0)

    @property
    def macs(self) -> int:
        out_c, out_h, out_w = self.output_chw
        per_output = (self.input_chw[0] // self.groups) * self.kernel[0] * self.kernel[1]
        return self.batch_size * out_c * out_h * out_w * per_output


@dataclass(frozen=True)
class PoolLayer(Layer):
    """Max or average pooling, windowed or global (incl. ReduceMean/ReduceMax over H, W)."""

    input_chw: tuple[int, int, int]
    output_chw: tuple[int, int, int]
    kernel: tuple[int, int]
    pads: tuple[int, int, int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    pool_kind: Literal["max", "avg"]
    is_global: bool
    ceil_mode: bool
    count_include_pad: bool
    dtype_bytes: int

    layer_type: ClassVar[LayerType] = "pooling"

    @property
    def padding(self) -> tuple[int, int]:
        return (self.pads[0] + self.pads[2], self.pads[1] + self.pads[3])


@dataclass(frozen=True)
class DenseLayer(Layer):
    """A Linear layer: Gemm, or MatMul by a 2-D constant weight (optionally + a constant bias)."""

    input_shape: Shape
    rows: int  # M: product of the data input's leading dims
    in_features: int  # K
    out_features: int  # N
    has_bias: bool
    dtype_bytes: int

    layer_type: ClassVar[LayerType] = "dense"

    @property
    def input_size(self) -> int:
        """All input elements, batch included (the seed's convention)."""
        return self.rows * self.in_features

    @property
    def output_size(self) -> int:
        return self.rows * self.out_features

    @property
    def params(self) -> int:
        return self.in_features * self.out_features + (self.out_features if self.has_bias else 0)

    @property
    def macs(self) -> int:
        return self.rows * self.in_features * self.out_features


@dataclass(frozen=True)
class OtherLayer(Layer):
    """Any other compute node, described by its op type, shapes and attributes."""

    input_shapes: tuple[Shape | None, ...]
    input_dtypes: tuple[str, ...]
    output_shapes: tuple[Shape, ...]
    attributes: tuple[tuple[str, AttributeValue], ...]
    constant_inputs: tuple[tuple[int, tuple[float, ...]], ...]  # (input position, flat values)
    is_free: bool  # constant-like or shape-only: counted, costs nothing
    dtype_bytes: int
    producer_op: str = ""  # op type feeding input 0: graph context, not part of the configuration

    @property
    def input_elements(self) -> int:
        return sum(math.prod(shape) for shape in self.input_shapes if shape is not None)

    @property
    def output_elements(self) -> int:
        return sum(math.prod(shape) for shape in self.output_shapes)

    @property
    def num_inputs(self) -> int:
        return len(self.input_shapes)


@dataclass(frozen=True)
class UnmodeledNode:
    """A node the estimator cannot represent; counted and listed in every report."""

    name: str
    op_type: str
    index: int
    reason: str


@dataclass(frozen=True)
class ModelLayers:
    """Everything graph/ knows about one model: its layers, what it skipped, and its inputs."""

    source: str
    layers: tuple[Layer, ...]
    unmodeled: tuple[UnmodeledNode, ...]
    input_shapes: tuple[tuple[str, Shape], ...]
    batch_size: int
    batch_size_assumed: bool
    opset: int
    node_count: int

    def of_type(self, layer_type: LayerType) -> tuple[Layer, ...]:
        """The layers of one type, in graph order."""
        return tuple(layer for layer in self.layers if layer.layer_type == layer_type)


def is_costed(layer: Layer) -> bool:
    """False for free nodes (constants, reshapes, shape arithmetic): counted, but cost nothing."""
    return not (isinstance(layer, OtherLayer) and layer.is_free)
