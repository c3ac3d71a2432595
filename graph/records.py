"""Typed, frozen records: one per layer that graph/ extracts from a model."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import ClassVar, Literal

__all__ = [
    "NO_DEPTH",
    "ConvLayer",
    "DenseLayer",
    "Depth",
    "Layer",
    "LayerType",
    "MatMulLayer",
    "ModelFacts",
    "ModelLayers",
    "OtherLayer",
    "PoolLayer",
    "RecurrentLayer",
    "UnmodeledNode",
    "is_costed",
    "layer_kind",
]

LayerType = Literal["convolutional", "pooling", "dense", "other"]

Shape = tuple[int, ...]
AttributeValue = int | float | str | tuple[int, ...] | tuple[float, ...] | tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Depth:
    """The third spatial axis of a 3-D convolution or pool (all 1 and 0 for 2-D ones)."""

    input: int = 1
    output: int = 1
    kernel: int = 1
    stride: int = 1
    dilation: int = 1
    pads: tuple[int, int] = (0, 0)  # begin, end


NO_DEPTH = Depth()


@dataclass(frozen=True, slots=True)
class Layer:
    """Fields every layer record carries: identity, position and element type."""

    name: str
    op_type: str
    index: int
    dtype: str
    batch_size: int

    layer_type: ClassVar[LayerType] = "other"

    @property
    def macs(self) -> int:
        """Multiply-accumulates (0 for ops that do no matrix or window products)."""
        return 0


@dataclass(frozen=True, slots=True)
class ConvLayer(Layer):
    """A convolution: 2-D (a 1-D one is read as height 1), 3-D (depth in the `*_depth` fields) or
    transposed (ConvTranspose: `input_chw` is what it reads, `output_chw` what it writes).

    QLinearConv and the int8 convolutions ONNX Runtime makes of QDQ groups carry dtype uint8/int8.
    """

    input_chw: tuple[int, int, int]
    output_chw: tuple[int, int, int]
    kernel: tuple[int, int]
    pads: tuple[int, int, int, int]  # begin_h, begin_w, end_h, end_w
    stride: tuple[int, int]
    dilation: tuple[int, int]
    groups: int
    has_bias: bool
    dtype_bytes: int
    spatial_rank: int = 2
    depth: Depth = NO_DEPTH
    transposed: bool = False
    output_padding: tuple[int, int] = (0, 0)  # ConvTranspose's, for H and W

    layer_type: ClassVar[LayerType] = "convolutional"

    @property
    def padding(self) -> tuple[int, int]:
        """Begin + end padding per axis (the seed's convention)."""
        return (self.pads[0] + self.pads[2], self.pads[1] + self.pads[3])

    @property
    def kernel_volume(self) -> int:
        return self.kernel[0] * self.kernel[1] * self.depth.kernel

    @property
    def params(self) -> int:
        weights = self.output_chw[0] * (self.input_chw[0] // self.groups) * self.kernel_volume
        return weights + (self.output_chw[0] if self.has_bias else 0)

    @property
    def macs(self) -> int:
        """Per output element of a convolution; per input element of a transposed one."""
        if self.transposed:
            in_c, in_h, in_w = self.input_chw
            per_input = (self.output_chw[0] // self.groups) * self.kernel_volume
            return self.batch_size * in_c * self.depth.input * in_h * in_w * per_input
        out_c, out_h, out_w = self.output_chw
        per_output = (self.input_chw[0] // self.groups) * self.kernel_volume
        return self.batch_size * out_c * self.depth.output * out_h * out_w * per_output


@dataclass(frozen=True, slots=True)
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
    spatial_rank: int = 2
    depth: Depth = NO_DEPTH

    layer_type: ClassVar[LayerType] = "pooling"

    @property
    def padding(self) -> tuple[int, int]:
        return (self.pads[0] + self.pads[2], self.pads[1] + self.pads[3])


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class MatMulLayer(OtherLayer):
    """A product of two activations (attention's Q.K^T and P.V) or by a constant of rank > 2: MatMul,
    Einsum and their int8 forms, as `matrices` independent (M x K) @ (K x N) products.

    An "other" layer (its op type and element counts) that also carries the product's dims.
    """

    matrices: int = 1  # product of the broadcast batch dims
    m: int = 0
    k: int = 0
    n: int = 0
    b_is_constant: bool = False
    equation: str = ""  # Einsum's

    @property
    def macs(self) -> int:
        return self.matrices * self.m * self.k * self.n


@dataclass(frozen=True, slots=True)
class RecurrentLayer(OtherLayer):
    """LSTM, GRU or RNN over a whole sequence: per step and direction, gates x hidden outputs from
    input + hidden features. An "other" layer that also carries the cell's dims."""

    sequence_length: int = 0
    rows: int = 0  # batch rows per step
    input_features: int = 0
    hidden: int = 0
    directions: int = 1
    gates: int = 1  # 4 (LSTM), 3 (GRU), 1 (RNN)
    has_bias: bool = False

    @property
    def macs(self) -> int:
        per_step = self.rows * self.gates * self.hidden * (self.input_features + self.hidden)
        return self.directions * self.sequence_length * per_step


@dataclass(frozen=True)
class UnmodeledNode:
    """A node the estimator cannot represent; counted and listed in every report.

    `macs` is what it would compute when its shapes are known (None: unknown).
    """

    name: str
    op_type: str
    index: int
    reason: str
    macs: int | None = None


@dataclass(frozen=True, kw_only=True)
class ModelFacts:
    """What every reading of a model records, as layers or as kernels: its source, the nodes it cannot
    represent, its inputs, batch size, opset and node count."""

    source: str
    unmodeled: tuple[UnmodeledNode, ...]
    input_shapes: tuple[tuple[str, Shape], ...]
    batch_size: int
    batch_size_assumed: bool
    opset: int
    node_count: int
    data_dependent: tuple[str, ...] = ()  # layers or kernels whose sizes depend on input values (set to bounds)


@dataclass(frozen=True, kw_only=True)
class ModelLayers(ModelFacts):
    """Everything graph/ knows about one model: its layers, what it skipped, and its inputs."""

    layers: tuple[Layer, ...]
    batch_axes: tuple[tuple[str, int], ...] = ()  # input name -> its batch axis (graph/batch.py)
    absorbed_count: int = 0  # nodes folded into a layer (a bias Add into its MatMul): modeled, with no row

    def of_type(self, layer_type: LayerType) -> tuple[Layer, ...]:
        """The layers of one type, in graph order."""
        return tuple(layer for layer in self.layers if layer.layer_type == layer_type)


def is_costed(layer: Layer) -> bool:
    """False for free nodes (constants, reshapes, shape arithmetic): counted, but cost nothing."""
    return not (isinstance(layer, OtherLayer) and layer.is_free)


@functools.singledispatch
def layer_kind(layer: Layer) -> str:
    """The family a layer belongs to, for what a profile was trained on: conv, conv3d, conv_transpose,
    pool, pool3d, dense, matmul, lstm/gru/rnn or other, with "-int8" for int8 convs, Linear layers and products.

    One registration per record type (a new op family's record registers its kind here)."""
    return "other"


def _int8(layer: ConvLayer | DenseLayer | MatMulLayer) -> str:
    return "-int8" if layer.dtype_bytes == 1 and layer.dtype in ("int8", "uint8") else ""


@layer_kind.register(ConvLayer)
def _conv_kind(layer: ConvLayer) -> str:
    return ("conv_transpose" if layer.transposed else "conv") + ("3d" if layer.spatial_rank == 3 else "") + _int8(layer)


@layer_kind.register(PoolLayer)
def _pool_kind(layer: PoolLayer) -> str:
    return "pool3d" if layer.spatial_rank == 3 else "pool"


@layer_kind.register(DenseLayer)
def _dense_kind(layer: DenseLayer) -> str:
    return "dense" + _int8(layer)


@layer_kind.register(MatMulLayer)
def _matmul_kind(layer: MatMulLayer) -> str:
    return "matmul" + _int8(layer)


@layer_kind.register(RecurrentLayer)
def _recurrent_kind(layer: RecurrentLayer) -> str:
    return layer.op_type.lower()
