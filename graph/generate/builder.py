"""The pieces every generated family is built from: a node builder and the layers exporters write.

Nodes follow what PyTorch's ONNX exporter writes for the same modules (Conv with a folded BatchNorm bias, Clip for
ReLU6, Sigmoid + Mul for SiLU, the Erf form of GELU, MatMul + Add for Linear, LayerNormalization at opset 17).
Weights are shape-only: initializers keep dims and no data, as in the zoo; fill them before running.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper

__all__ = ["INT64", "Builder", "Io", "Network", "Tensor", "activation", "add", "batch_norm", "classifier", "conv", "gelu",
           "image_input", "layer_norm", "linear", "shortcut", "upsample", "value"]

INT64 = TensorProto.INT64
Io = tuple[list[onnx.ValueInfoProto], list[onnx.ValueInfoProto]]  # a network's graph inputs and outputs


@dataclass(frozen=True)
class Tensor:
    """A feature map (N, channels, height, width) by name."""

    name: str
    channels: int
    height: int
    width: int


class Builder:
    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def weight(self, shape: list[int]) -> str:
        """A shape-only float initializer (dims kept, no data)."""
        name = f"w{len(self.initializers)}"
        self.initializers.append(TensorProto(name=name, data_type=TensorProto.FLOAT, dims=shape))
        return name

    def const(self, values, dtype: int = TensorProto.FLOAT, scalar: bool = False) -> str:
        name = f"c{len(self.initializers)}"
        array = np.asarray(values).reshape(-1)
        dims = [] if scalar else [array.size]
        self.initializers.append(helper.make_tensor(name, dtype, dims, array.tolist()))
        return name

    def node(self, op_type: str, inputs: list[str], **attributes) -> str:
        return self.nodes_out(op_type, inputs, 1, **attributes)[0]

    def nodes_out(self, op_type: str, inputs: list[str], outputs: int, **attributes) -> list[str]:
        """A node with `outputs` outputs (Split), named as the exporter names them."""
        name = f"/{op_type}_{len(self.nodes)}"
        names = [f"{name}_output_{index}" for index in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, names, name=name, **attributes))
        return names


# A family's network: (builder, rng, resolution, classes, spec to fill) -> its graph inputs and outputs.
Network = Callable[[Builder, np.random.Generator, int, int, dict], Io]


def value(name: str, shape: list) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def image_input(resolution: int) -> onnx.ValueInfoProto:
    return value("input", ["batch", 3, resolution, resolution])


def classifier(build: Callable[[Builder, np.random.Generator, int, int, dict], str]) -> Network:
    """An image classifier's network from a builder of its logits: the image (N, 3, R, R) in, (N, classes) out."""
    def network(b: Builder, rng: np.random.Generator, resolution: int, classes: int, spec: dict) -> Io:
        return [image_input(resolution)], [value(build(b, rng, resolution, classes, spec), ["batch", classes])]
    return network


def conv(b: Builder, x: Tensor, out_channels: int, kernel: int | tuple[int, int] = 3, stride: int = 1, groups: int = 1,
         act: str | None = "relu") -> Tensor:
    """A Conv (BatchNorm folded into its bias) and its activation; `kernel` square or (height, width)."""
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    name = b.node("Conv", [x.name, b.weight([out_channels, x.channels // groups, kh, kw]), b.weight([out_channels])],
                  kernel_shape=[kh, kw], pads=[kh // 2, kw // 2, kh // 2, kw // 2], strides=[stride, stride],
                  group=groups, dilations=[1, 1])
    height = (x.height + 2 * (kh // 2) - kh) // stride + 1
    width = (x.width + 2 * (kw // 2) - kw) // stride + 1
    return activation(b, Tensor(name, out_channels, height, width), act)


def activation(b: Builder, x: Tensor, act: str | None) -> Tensor:
    if act is None:
        return x
    return Tensor(activation_of(b, x.name, act), x.channels, x.height, x.width)


def activation_of(b: Builder, x: str, act: str) -> str:
    """`act` applied to the tensor named `x`, as the exporter writes it."""
    if act == "relu":
        return b.node("Relu", [x])
    if act == "relu6":
        return b.node("Clip", [x, b.const(0.0, scalar=True), b.const(6.0, scalar=True)])
    if act == "hardswish":
        return b.node("HardSwish", [x])
    if act == "hardsigmoid":
        return b.node("HardSigmoid", [x], alpha=1 / 6, beta=0.5)
    if act == "sigmoid":
        return b.node("Sigmoid", [x])
    if act == "silu":
        return b.node("Mul", [x, b.node("Sigmoid", [x])])
    if act == "gelu":
        return gelu(b, x)
    if act == "gelu_tanh":
        return gelu_tanh(b, x)
    raise ValueError(f"unknown activation {act!r}")


def add(b: Builder, x: Tensor, y: Tensor, act: str | None = None) -> Tensor:
    return activation(b, Tensor(b.node("Add", [x.name, y.name]), x.channels, x.height, x.width), act)


def gelu(b: Builder, x: str) -> str:
    erf = b.node("Erf", [b.node("Div", [x, b.const(math.sqrt(2.0), scalar=True)])])
    return b.node("Mul", [b.node("Mul", [x, b.node("Add", [erf, b.const(1.0, scalar=True)])]), b.const(0.5, scalar=True)])


def gelu_tanh(b: Builder, x: str) -> str:
    """GPT-2's gelu_new as exported: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    cubic = b.node("Mul", [b.const(0.044715, scalar=True), b.node("Pow", [x, b.const(3.0, scalar=True)])])
    inner = b.node("Mul", [b.const(math.sqrt(2.0 / math.pi), scalar=True), b.node("Add", [x, cubic])])
    plus_one = b.node("Add", [b.node("Tanh", [inner]), b.const(1.0, scalar=True)])
    return b.node("Mul", [b.node("Mul", [b.const(0.5, scalar=True), x]), plus_one])


def linear(b: Builder, x: str, in_features: int, out_features: int, bias: bool = True) -> str:
    product = b.node("MatMul", [x, b.weight([in_features, out_features])])
    return b.node("Add", [product, b.weight([out_features])]) if bias else product


def layer_norm(b: Builder, x: str, channels: int) -> str:
    return b.node("LayerNormalization", [x, b.weight([channels]), b.weight([channels])], axis=-1, epsilon=1e-6)


def rms_norm(b: Builder, x: str, channels: int) -> str:
    """LLaMA's RMSNorm as exported: x * (1 / sqrt(mean(x^2) + eps)) * w."""
    mean = b.node("ReduceMean", [b.node("Pow", [x, b.const(2.0, scalar=True)])], axes=[-1], keepdims=1)
    root = b.node("Sqrt", [b.node("Add", [mean, b.const(1e-6, scalar=True)])])
    normed = b.node("Mul", [x, b.node("Div", [b.const(1.0, scalar=True), root])])
    return b.node("Mul", [b.weight([channels]), normed])


def upsample(b: Builder, x: Tensor) -> Tensor:
    """Nearest-neighbour upsampling by 2, as torch exports nn.Upsample / F.interpolate(scale_factor=2)."""
    name = b.node("Resize", [x.name, "", b.const([1.0, 1.0, 2.0, 2.0])], mode="nearest",
                  coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    return Tensor(name, x.channels, 2 * x.height, 2 * x.width)


def batch_norm(b: Builder, x: Tensor) -> Tensor:
    stats = [b.weight([x.channels]) for _ in range(4)]
    return Tensor(b.node("BatchNormalization", [x.name, *stats], epsilon=1e-5), x.channels, x.height, x.width)


def shortcut(b: Builder, x: Tensor, width: int, stride: int) -> Tensor:
    return x if stride == 1 and x.channels == width else conv(b, x, width, 1, stride, act=None)
