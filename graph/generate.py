"""A seeded generator of realistic networks, built from the blocks real architectures use.

Each network belongs to one family (its block type), so accuracy can be judged on families a
profile never saw. Nodes follow what PyTorch's ONNX exporter writes for the same modules (Conv
with a folded BatchNorm bias, Clip for ReLU6, Sigmoid + Mul for SiLU, the Erf form of GELU,
MatMul + Add for Linear, LayerNormalization at opset 17). Weights are shape-only: initializers
keep dims and no data, as in the zoo; fill them before running.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper

__all__ = ["FAMILIES", "GeneratedNetwork", "generate"]

FAMILIES = (
    "basic_residual", "bottleneck", "inverted_residual", "inverted_residual_se", "depthwise_separable",
    "channel_shuffle", "dense_concat", "inception", "convnext", "transformer_mlp",
)
_INT64 = TensorProto.INT64


@dataclass(frozen=True)
class GeneratedNetwork:
    """A generated model and what it was sampled from."""

    name: str
    family: str
    seed: int
    model: onnx.ModelProto
    spec: dict[str, object]


@dataclass(frozen=True)
class _Tensor:
    name: str
    channels: int
    height: int
    width: int


class _Builder:
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
        name = f"/{op_type}_{len(self.nodes)}"
        output = f"{name}_output_0"
        self.nodes.append(helper.make_node(op_type, inputs, [output], name=name, **attributes))
        return output


def _conv(b: _Builder, x: _Tensor, out_channels: int, kernel: int = 3, stride: int = 1, groups: int = 1,
          act: str | None = "relu") -> _Tensor:
    pad = kernel // 2
    name = b.node("Conv", [x.name, b.weight([out_channels, x.channels // groups, kernel, kernel]), b.weight([out_channels])],
                  kernel_shape=[kernel, kernel], pads=[pad] * 4, strides=[stride, stride], group=groups,
                  dilations=[1, 1])
    size = lambda d: (d + 2 * pad - kernel) // stride + 1  # noqa: E731
    return _activation(b, _Tensor(name, out_channels, size(x.height), size(x.width)), act)


def _activation(b: _Builder, x: _Tensor, act: str | None) -> _Tensor:
    if act is None:
        return x
    if act == "relu":
        name = b.node("Relu", [x.name])
    elif act == "relu6":
        name = b.node("Clip", [x.name, b.const(0.0, scalar=True), b.const(6.0, scalar=True)])
    elif act == "hardswish":
        name = b.node("HardSwish", [x.name])
    elif act == "hardsigmoid":
        name = b.node("HardSigmoid", [x.name], alpha=1 / 6, beta=0.5)
    elif act == "sigmoid":
        name = b.node("Sigmoid", [x.name])
    elif act == "silu":
        name = b.node("Mul", [x.name, b.node("Sigmoid", [x.name])])
    else:
        raise ValueError(f"unknown activation {act!r}")
    return _Tensor(name, x.channels, x.height, x.width)


def _add(b: _Builder, x: _Tensor, y: _Tensor, act: str | None = None) -> _Tensor:
    return _activation(b, _Tensor(b.node("Add", [x.name, y.name]), x.channels, x.height, x.width), act)


def _gelu(b: _Builder, x: str) -> str:
    erf = b.node("Erf", [b.node("Div", [x, b.const(math.sqrt(2.0), scalar=True)])])
    return b.node("Mul", [b.node("Mul", [x, b.node("Add", [erf, b.const(1.0, scalar=True)])]), b.const(0.5, scalar=True)])


def _linear(b: _Builder, x: str, in_features: int, out_features: int) -> str:
    return b.node("Add", [b.node("MatMul", [x, b.weight([in_features, out_features])]), b.weight([out_features])])


def _layer_norm(b: _Builder, x: str, channels: int) -> str:
    return b.node("LayerNormalization", [x, b.weight([channels]), b.weight([channels])], axis=-1, epsilon=1e-6)


def _shortcut(b: _Builder, x: _Tensor, width: int, stride: int) -> _Tensor:
    return x if stride == 1 and x.channels == width else _conv(b, x, width, 1, stride, act=None)


# -- blocks: (builder, input, rng, width, stride) -> output ---------------------------------------


def _basic_residual(b, x, rng, width, stride):
    y = _conv(b, _conv(b, x, width, 3, stride), width, 3, 1, act=None)
    return _add(b, y, _shortcut(b, x, width, stride), "relu")


def _bottleneck(b, x, rng, width, stride):
    groups = int(rng.choice([1, 1, 8, 32]))
    mid = max(8, width // 4) if groups == 1 else max(groups * 4, (width // 2) // groups * groups)
    y = _conv(b, _conv(b, _conv(b, x, mid, 1), mid, 3, stride, groups=groups), width, 1, act=None)
    return _add(b, y, _shortcut(b, x, width, stride), "relu")


def _inverted_residual(b, x, rng, width, stride, squeeze_excite=False):
    expand = int(rng.choice([1, 3, 4, 6]))
    kernel = int(rng.choice([3, 5])) if squeeze_excite else 3
    act = ("hardswish" if rng.random() < 0.5 else "silu") if squeeze_excite else "relu6"
    mid = x.channels * expand
    y = _conv(b, x, mid, 1, act=act) if expand != 1 else x
    y = _conv(b, y, mid, kernel, stride, groups=mid, act=act)
    if squeeze_excite:
        squeezed = max(8, mid // 4) if rng.random() < 0.5 else max(4, mid // 4)
        pooled = _Tensor(b.node("GlobalAveragePool", [y.name]), mid, 1, 1)
        gate = _conv(b, pooled, squeezed, 1, act="relu" if act == "hardswish" else "silu")
        gate = _conv(b, gate, mid, 1, act="hardsigmoid" if act == "hardswish" else "sigmoid")
        y = _Tensor(b.node("Mul", [gate.name, y.name]), mid, y.height, y.width)
    y = _conv(b, y, width, 1, act=None)
    return _add(b, y, x) if stride == 1 and x.channels == width else y


def _inverted_residual_se(b, x, rng, width, stride):
    return _inverted_residual(b, x, rng, width, stride, squeeze_excite=True)


def _depthwise_separable(b, x, rng, width, stride):
    return _conv(b, _conv(b, x, x.channels, 3, stride, groups=x.channels), width, 1)


def _channel_shuffle(b, x, rng, width, stride):
    half = width // 2
    if stride == 1 and x.channels == width:
        def part(start, end):
            return b.node("Slice", [x.name, b.const([start], _INT64), b.const([end], _INT64), b.const([1], _INT64)])
        left = _Tensor(part(0, half), half, x.height, x.width)
        right = _conv(b, _Tensor(part(half, width), half, x.height, x.width), half, 1)
        right = _conv(b, _conv(b, right, half, 3, 1, groups=half, act=None), half, 1)
    else:
        left = _conv(b, _conv(b, x, x.channels, 3, stride, groups=x.channels, act=None), half, 1)
        right = _conv(b, _conv(b, _conv(b, x, half, 1), half, 3, stride, groups=half, act=None), half, 1)
    joined = b.node("Concat", [left.name, right.name], axis=1)
    height, width_px = right.height, right.width
    y = b.node("Reshape", [joined, b.const([-1, 2, half, height, width_px], _INT64)])
    y = b.node("Transpose", [y], perm=[0, 2, 1, 3, 4])
    y = b.node("Reshape", [y, b.const([-1, width, height, width_px], _INT64)])
    return _Tensor(y, width, height, width_px)


def _batch_norm(b: _Builder, x: _Tensor) -> _Tensor:
    stats = [b.weight([x.channels]) for _ in range(4)]
    return _Tensor(b.node("BatchNormalization", [x.name, *stats], epsilon=1e-5), x.channels, x.height, x.width)


def _dense_concat(b, x, rng, width, stride):
    if stride > 1:  # transition: BN, ReLU, 1x1 conv, 2x2 average pool
        y = _conv(b, _activation(b, _batch_norm(b, x), "relu"), width, 1, act=None)
        pooled = b.node("AveragePool", [y.name], kernel_shape=[2, 2], strides=[2, 2])
        return _Tensor(pooled, width, y.height // 2, y.width // 2)
    growth = int(rng.choice([12, 16, 24, 32]))
    y = _conv(b, _activation(b, _batch_norm(b, x), "relu"), 4 * growth, 1)
    y = _conv(b, y, growth, 3, act=None)
    return _Tensor(b.node("Concat", [x.name, y.name], axis=1), x.channels + growth, x.height, x.width)


def _inception(b, x, rng, width, stride):
    if stride > 1:
        pooled = b.node("MaxPool", [x.name], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
        return _Tensor(pooled, x.channels, (x.height - 1) // 2 + 1, (x.width - 1) // 2 + 1)
    quarter = max(8, width // 4)
    one = _conv(b, x, quarter, 1)
    three = _conv(b, _conv(b, x, quarter // 2 + 4, 1), quarter, 3)
    five = _conv(b, _conv(b, x, max(4, quarter // 4), 1), quarter // 2, int(rng.choice([3, 5])))
    pooled = b.node("MaxPool", [x.name], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1])
    pool = _conv(b, _Tensor(pooled, x.channels, x.height, x.width), quarter // 2, 1)
    channels = one.channels + three.channels + five.channels + pool.channels
    return _Tensor(b.node("Concat", [one.name, three.name, five.name, pool.name], axis=1), channels, x.height, x.width)


def _convnext(b, x, rng, width, stride):
    if stride > 1 or x.channels != width:  # downsampling: channels-last LayerNorm, then a strided conv
        y = b.node("Transpose", [_layer_norm(b, b.node("Transpose", [x.name], perm=[0, 2, 3, 1]), x.channels)],
                   perm=[0, 3, 1, 2])
        return _conv(b, _Tensor(y, x.channels, x.height, x.width), width, stride, stride, act=None)
    y = _conv(b, x, x.channels, 7, 1, groups=x.channels, act=None)
    t = _layer_norm(b, b.node("Transpose", [y.name], perm=[0, 2, 3, 1]), x.channels)
    t = _linear(b, _gelu(b, _linear(b, t, x.channels, 4 * x.channels)), 4 * x.channels, x.channels)
    t = b.node("Transpose", [b.node("Mul", [b.weight([x.channels]), t])], perm=[0, 3, 1, 2])
    return _Tensor(b.node("Add", [t, x.name]), x.channels, x.height, x.width)


_BLOCKS = {
    "basic_residual": _basic_residual, "bottleneck": _bottleneck, "inverted_residual": _inverted_residual,
    "inverted_residual_se": _inverted_residual_se, "depthwise_separable": _depthwise_separable,
    "channel_shuffle": _channel_shuffle, "dense_concat": _dense_concat, "inception": _inception,
    "convnext": _convnext,
}


def _transformer(b: _Builder, rng, resolution: int, classes: int, spec: dict) -> str:
    """Patch embedding, pre-norm MLP blocks on tokens (N, T, C), mean over tokens, a linear head."""
    dim = int(rng.choice([64, 96, 128, 192, 256]))
    depth = int(rng.integers(2, 7))
    patch = int(rng.choice([8, 16]))
    ratio = int(rng.choice([2, 4]))
    grid = resolution // patch
    spec.update(dim=dim, depth=depth, patch=patch, mlp_ratio=ratio)
    embedded = b.node("Conv", ["input", b.weight([dim, 3, patch, patch]), b.weight([dim])],
                      kernel_shape=[patch, patch], strides=[patch, patch])
    tokens = b.node("Transpose", [b.node("Reshape", [embedded, b.const([0, dim, grid * grid], _INT64)])],
                    perm=[0, 2, 1])
    for _ in range(depth):
        hidden = _gelu(b, _linear(b, _layer_norm(b, tokens, dim), dim, ratio * dim))
        tokens = b.node("Add", [tokens, _linear(b, hidden, ratio * dim, dim)])
    pooled = b.node("ReduceMean", [_layer_norm(b, tokens, dim)], axes=[1], keepdims=0)
    return b.node("Gemm", [pooled, b.weight([classes, dim]), b.weight([classes])], transB=1)


def _convnet(b: _Builder, rng, family: str, resolution: int, classes: int, spec: dict) -> str:
    base = int(rng.choice([8, 12, 16, 24, 32, 48, 58, 64]))
    x = _conv(b, _Tensor("input", 3, resolution, resolution), base, int(rng.choice([3, 7])), 2)
    if rng.random() < 0.5 and resolution >= 96:
        pooled = b.node("MaxPool", [x.name], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
        x = _Tensor(pooled, x.channels, (x.height - 1) // 2 + 1, (x.width - 1) // 2 + 1)
    stages = int(rng.integers(2, 5))
    width = base
    depths = []
    for stage in range(stages):
        if stage:
            width = int(width * rng.choice([1.5, 2]))
        width = max(8, width // 2 * 2)
        depth = int(rng.integers(1, 4))
        depths.append(depth)
        for index in range(depth):
            stride = 2 if index == 0 and stage > 0 and x.height >= 4 else 1
            x = _BLOCKS[family](b, x, rng, width, stride)
    spec.update(base_width=base, stages=stages, depths=depths)
    flat = b.node("Flatten", [b.node("GlobalAveragePool", [x.name])], axis=1)
    return b.node("Gemm", [flat, b.weight([classes, x.channels]), b.weight([classes])], alpha=1.0, beta=1.0, transB=1)


def generate(family: str, seed: int) -> GeneratedNetwork:
    """One network of `family`, the same for the same (family, seed) on every machine."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; families: {', '.join(FAMILIES)}")
    rng = np.random.default_rng([FAMILIES.index(family), seed])
    b = _Builder(rng)
    resolution = int(rng.choice([32, 64, 96, 128, 160, 224]))
    classes = int(rng.choice([10, 100, 1000]))
    if family == "transformer_mlp":
        resolution = max(resolution, 64)
    spec: dict[str, object] = {"family": family, "seed": seed, "resolution": resolution, "classes": classes}
    build = _transformer if family == "transformer_mlp" else (
        lambda b_, r, res, cls, sp: _convnet(b_, r, family, res, cls, sp))
    output = build(b, rng, resolution, classes, spec)
    name = f"{family}_{seed}"
    graph = helper.make_graph(b.nodes, name,
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, resolution, resolution])],
                              [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["batch", classes])], b.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="onnx-cost-estimator generator")
    return GeneratedNetwork(name, family, seed, model, spec)
