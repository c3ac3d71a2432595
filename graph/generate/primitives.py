"""The primitives family of the generator (graph.generate registers it): op coverage, not an architecture.

Convnets whose stem is a stride-2 conv or a patch embedding (a conv of kernel and stride 2-16), whose blocks change
width or stride by a dense or a depthwise-then-1x1 conv, and each apply a few ops drawn at random from the kernels
ONNX Runtime runs, each over the axes and layouts it can meet: every reduction over channels, space or one spatial
axis, softmax over any axis, elementwise ops broadcasting per channel, per position or per element, Split/Concat,
Transpose (channel shuffles, channels-last round trips), pooling, resizing (nearest with either rounding, linear),
normalisations, convolutions of square and one-sided kernels, depthwise convolutions with each fused activation, and
narrow branches (a 3x3 or 5x5 conv over 4 channels up to a quarter, as Inception's). Architecture families use each
op in one way (a ReduceL2 only over space in ConvNeXt-V2's GRN, a softmax over a non-last axis only in YOLO's DFL
decoder); these graphs give every op's cost a measured spread of sizes, axes and neighbours, the way a per-kernel
predictor samples kernels (nn-Meter's adaptive sampling). Leave-one-family-out keeps this family in training and
never holds it out.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from graph.generate.builder import INT64, Builder, Tensor, conv, layer_norm

__all__ = ["PRIMITIVES", "primitive_block", "primitive_stem"]

_REDUCTIONS = ("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceL1", "ReduceL2", "ReduceSumSquare",
               "ReduceLogSumExp")
_UNARY = ("Sigmoid", "Tanh", "Erf", "Relu", "LeakyRelu", "HardSigmoid", "HardSwish", "Abs", "Neg", "Softplus", "Elu")
_BINARY = ("Add", "Mul", "Sub", "Div", "Max", "Min")


def _reduce(b: Builder, x: str, op: str, axes: list[int]) -> str:
    """`op` over `axes`, kept as size-1 dims (ReduceSum takes its axes as an input from opset 13)."""
    if op == "ReduceSum":
        return b.node(op, [x, b.const(axes, INT64)], keepdims=1)
    return b.node(op, [x], axes=axes, keepdims=1)


def _reduce_scale(b: Builder, x: Tensor, rng: np.random.Generator) -> Tensor:
    """x times a reduction of x over channels, space, rows or columns."""
    axes = [[1], [2, 3], [2], [3]][int(rng.integers(4))]
    reduced = _reduce(b, x.name, str(rng.choice(_REDUCTIONS)), axes)
    return Tensor(b.node("Mul", [x.name, reduced]), x.channels, x.height, x.width)


def _softmax(b: Builder, x: Tensor, rng: np.random.Generator) -> Tensor:
    op = "Softmax" if rng.random() < 0.75 else "LogSoftmax"
    return Tensor(b.node(op, [x.name], axis=int(rng.choice([1, 2, 3, -1]))), x.channels, x.height, x.width)


def _channels_last(b: Builder, x: Tensor, rng: np.random.Generator) -> Tensor:
    """To N,H,W,C, an op over the channels or space there, back to N,C,H,W."""
    t = b.node("Transpose", [x.name], perm=[0, 2, 3, 1])
    choice = int(rng.integers(3))
    if choice == 0:
        t = layer_norm(b, t, x.channels)
    elif choice == 1:
        t = b.node("Softmax", [t], axis=-1)
    else:
        t = b.node("Mul", [t, _reduce(b, t, str(rng.choice(_REDUCTIONS)), [[1, 2], [-1]][int(rng.integers(2))])])
    return Tensor(b.node("Transpose", [t], perm=[0, 3, 1, 2]), x.channels, x.height, x.width)


def _unary(b: Builder, x: Tensor, rng: np.random.Generator) -> Tensor:
    return Tensor(b.node(str(rng.choice(_UNARY)), [x.name]), x.channels, x.height, x.width)


def _binary(b: Builder, x: Tensor, rng: np.random.Generator) -> Tensor:
    """x and a weight per channel, per position, per element or a scalar, or x and a unary op of x."""
    shape = [[x.channels, 1, 1], [1, x.height, x.width], [x.channels, x.height, x.width], [1], None][int(rng.integers(5))]
    other = b.node(str(rng.choice(_UNARY)), [x.name]) if shape is None else b.weight(shape)
    return Tensor(b.node(str(rng.choice(_BINARY)), [x.name, other]), x.channels, x.height, x.width)


def _shuffle(b: Builder, x: Tensor, rng: np.random.Generator) -> Tensor:
    """A channel shuffle: N,g,C/g,H,W, groups and channels swapped, back to N,C,H,W."""
    groups = next((g for g in (int(rng.choice([2, 3, 4, 8])), 2) if x.channels % g == 0), 1)
    if groups == 1:
        return _unary(b, x, rng)
    split = b.node("Reshape", [x.name, b.const([0, groups, x.channels // groups, x.height, x.width], INT64)])
    swapped = b.node("Transpose", [split], perm=[0, 2, 1, 3, 4])
    return Tensor(b.node("Reshape", [swapped, b.const([0, x.channels, x.height, x.width], INT64)]), x.channels,
                  x.height, x.width)


def _split_concat(b: Builder, x: Tensor, rng: np.random.Generator) -> Tensor:
    """Split along channels, rows or columns, an op on one part, Concat back along the same axis."""
    axis = int(rng.choice([1, 2, 3]))
    size = (x.channels, x.height, x.width)[axis - 1]
    if size < 2:
        return _unary(b, x, rng)
    first = size // 2
    parts = b.nodes_out("Split", [x.name, b.const([first, size - first], INT64)], 2, axis=axis)
    parts[1] = b.node(str(rng.choice(_UNARY)), [parts[1]])
    return Tensor(b.node("Concat", parts, axis=axis), x.channels, x.height, x.width)


def _pool(b: Builder, x: Tensor, rng: np.random.Generator) -> Tensor:
    kernel = int(rng.choice([3, 5]))
    op = str(rng.choice(["MaxPool", "AveragePool"]))
    pads = [kernel // 2] * 4
    return Tensor(b.node(op, [x.name], kernel_shape=[kernel, kernel], strides=[1, 1], pads=pads), x.channels, x.height,
                  x.width)


def _resize(b: Builder, x: Tensor, rng: np.random.Generator) -> Tensor:
    """Down by 2 with a pool, up by 2 with Resize (nearest or linear)."""
    if x.height % 2 or x.width % 2:
        return _pool(b, x, rng)
    down = b.node("MaxPool", [x.name], kernel_shape=[2, 2], strides=[2, 2])
    mode = str(rng.choice(["nearest", "linear"]))
    attributes = {"mode": mode, "coordinate_transformation_mode": "asymmetric" if mode == "nearest" else "half_pixel"}
    if mode == "nearest" and rng.random() < 0.5:  # PyTorch's rounding (an NCHWc Upsample); else ONNX's default
        attributes["nearest_mode"] = "floor"
    up = b.node("Resize", [down, "", b.const([1.0, 1.0, 2.0, 2.0])], **attributes)
    return Tensor(up, x.channels, x.height, x.width)


def _normalize(b: Builder, x: Tensor, rng: np.random.Generator) -> Tensor:
    choice = int(rng.integers(3))
    if choice == 0:
        name = b.node("InstanceNormalization", [x.name, b.weight([x.channels]), b.weight([x.channels])], epsilon=1e-5)
    elif choice == 1:
        name = b.node("LpNormalization", [x.name], axis=1, p=2)
    else:
        name = b.node("BatchNormalization", [b.node("Relu", [x.name]), *(b.weight([x.channels]) for _ in range(4))],
                      epsilon=1e-5)
    return Tensor(name, x.channels, x.height, x.width)


def _conv(b: Builder, x: Tensor, rng: np.random.Generator) -> Tensor:
    """A conv keeping the shape, with an activation or none: depthwise, pointwise, grouped or dense, its kernel square
    (3, 5 or 7) or one-sided (1 x k, k x 1: GhostNetV2's and Inception's factorised kernels); a dense one 3 or 5."""
    act = [None, "relu", "relu6", "hardswish", "silu", "gelu"][int(rng.integers(6))]
    choice = int(rng.integers(4))
    if choice == 1:
        return conv(b, x, x.channels, 1, act=act)
    size = int(rng.choice([3, 5] if choice == 3 else [3, 5, 7]))
    kernel = [(size, size), (1, size), (size, 1)][int(rng.integers(3))]
    groups = {0: x.channels, 2: next((g for g in (4, 2) if x.channels % g == 0), 1), 3: 1}[choice]
    return conv(b, x, x.channels, kernel, groups=groups, act=act)


def _depthwise(b: Builder, x: Tensor, rng: np.random.Generator) -> Tensor:
    """A square depthwise conv (3x3 mostly, 5x5) with each activation ONNX Runtime fuses into it (at equal shapes none
    and Relu cost the same, Clip and HardSwish ~22% more)."""
    act = [None, "relu", "relu6", "hardswish", "sigmoid"][int(rng.integers(5))]
    return conv(b, x, x.channels, int(rng.choice([3, 3, 5])), groups=x.channels, act=act)


def _narrow(b: Builder, x: Tensor, rng: np.random.Generator) -> Tensor:
    """An Inception or bottleneck branch added to x: a 1x1 conv down to a few channels (4 up to a quarter), a 3x3 or
    5x5 conv there (NCHWc pads narrow channels to its block), a 1x1 conv back up."""
    narrow = max(4, x.channels // int(rng.choice([4, 8, 16])))
    y = conv(b, conv(b, x, narrow, 1), narrow, int(rng.choice([3, 5])))
    y = conv(b, y, x.channels, 1, act=None)
    return Tensor(b.node("Add", [x.name, y.name]), x.channels, x.height, x.width)


PRIMITIVES: dict[str, Callable[[Builder, Tensor, np.random.Generator], Tensor]] = {
    "reduce_scale": _reduce_scale, "softmax": _softmax, "channels_last": _channels_last, "unary": _unary,
    "binary": _binary, "shuffle": _shuffle, "split_concat": _split_concat, "pool": _pool, "resize": _resize,
    "normalize": _normalize, "conv": _conv, "depthwise": _depthwise, "narrow": _narrow,
}
_NAMES = tuple(PRIMITIVES)


def primitive_stem(b: Builder, image: Tensor, rng: np.random.Generator, width: int) -> Tensor:
    """The usual 3x3 or 7x7 stride-2 conv, or a patch embedding: a conv of kernel and stride 2, 4, 8 or 16 (ViT's,
    ConvNeXt's, Swin's), its map at least 8 wide."""
    patches = [p for p in (2, 4, 8, 16) if image.height // p >= 8]
    if rng.random() < 0.5 or not patches:
        return conv(b, image, width, int(rng.choice([3, 7])), 2)
    patch = int(rng.choice(patches))
    name = b.node("Conv", [image.name, b.weight([width, image.channels, patch, patch]), b.weight([width])],
                  kernel_shape=[patch, patch], strides=[patch, patch])
    return Tensor(name, width, image.height // patch, image.width // patch)


def primitive_block(b: Builder, x: Tensor, rng: np.random.Generator, width: int, stride: int) -> Tensor:
    """A stride or width change by a 3x3 conv (dense, or depthwise then 1x1 as MobileNet's), then two to four
    primitives drawn at random."""
    if stride > 1 or x.channels != width:
        act = str(rng.choice(["relu", "hardswish", "silu"]))
        if rng.random() < 0.5:
            x = conv(b, x, x.channels, 3, stride, groups=x.channels, act=act)
            x = conv(b, x, width, 1, act=act)
        else:
            x = conv(b, x, width, 3, stride, act=act)
    for _ in range(int(rng.integers(2, 5))):
        x = PRIMITIVES[_NAMES[int(rng.integers(len(_NAMES)))]](b, x, rng)
    return x
