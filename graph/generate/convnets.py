"""The classic convolutional families and the MLP-only transformer of the generator (graph.generate).

A network is a stem, two to four stages of one family's blocks, global pooling and a linear head; the transformer is
a patch embedding and pre-norm MLP blocks on tokens."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from graph.generate.builder import (
    INT64,
    Builder,
    Network,
    Tensor,
    activation,
    add,
    batch_norm,
    classifier,
    conv,
    gelu,
    layer_norm,
    linear,
    shortcut,
)

__all__ = ["BLOCKS", "Block", "Stem", "convnet", "convnet_network", "convnext_downsample", "inverted_residual", "transformer_mlp"]

# -- blocks: (builder, input, rng, width, stride) -> output ---------------------------------------


def _basic_residual(b, x, rng, width, stride):
    y = conv(b, conv(b, x, width, 3, stride), width, 3, 1, act=None)
    return add(b, y, shortcut(b, x, width, stride), "relu")


def _bottleneck(b, x, rng, width, stride):
    groups = int(rng.choice([1, 1, 8, 32]))
    mid = max(8, width // 4) if groups == 1 else max(groups * 4, (width // 2) // groups * groups)
    y = conv(b, conv(b, conv(b, x, mid, 1), mid, 3, stride, groups=groups), width, 1, act=None)
    return add(b, y, shortcut(b, x, width, stride), "relu")


def inverted_residual(b, x, rng, width, stride, squeeze_excite=False):
    expand = int(rng.choice([1, 3, 4, 6]))
    kernel = int(rng.choice([3, 5])) if squeeze_excite else 3
    act = ("hardswish" if rng.random() < 0.5 else "silu") if squeeze_excite else "relu6"
    mid = x.channels * expand
    y = conv(b, x, mid, 1, act=act) if expand != 1 else x
    y = conv(b, y, mid, kernel, stride, groups=mid, act=act)
    if squeeze_excite:
        squeezed = max(8, mid // 4) if rng.random() < 0.5 else max(4, mid // 4)
        pooled = Tensor(b.node("GlobalAveragePool", [y.name]), mid, 1, 1)
        gate = conv(b, pooled, squeezed, 1, act="relu" if act == "hardswish" else "silu")
        gate = conv(b, gate, mid, 1, act="hardsigmoid" if act == "hardswish" else "sigmoid")
        y = Tensor(b.node("Mul", [gate.name, y.name]), mid, y.height, y.width)
    y = conv(b, y, width, 1, act=None)
    return add(b, y, x) if stride == 1 and x.channels == width else y


def _inverted_residual_se(b, x, rng, width, stride):
    return inverted_residual(b, x, rng, width, stride, squeeze_excite=True)


def _depthwise_separable(b, x, rng, width, stride):
    return conv(b, conv(b, x, x.channels, 3, stride, groups=x.channels), width, 1)


def _channel_shuffle(b, x, rng, width, stride):
    half = width // 2
    if stride == 1 and x.channels == width:
        def part(start, end):
            return b.node("Slice", [x.name, b.const([start], INT64), b.const([end], INT64), b.const([1], INT64)])
        left = Tensor(part(0, half), half, x.height, x.width)
        right = conv(b, Tensor(part(half, width), half, x.height, x.width), half, 1)
        right = conv(b, conv(b, right, half, 3, 1, groups=half, act=None), half, 1)
    else:
        left = conv(b, conv(b, x, x.channels, 3, stride, groups=x.channels, act=None), half, 1)
        right = conv(b, conv(b, conv(b, x, half, 1), half, 3, stride, groups=half, act=None), half, 1)
    joined = b.node("Concat", [left.name, right.name], axis=1)
    height, width_px = right.height, right.width
    y = b.node("Reshape", [joined, b.const([-1, 2, half, height, width_px], INT64)])
    y = b.node("Transpose", [y], perm=[0, 2, 1, 3, 4])
    y = b.node("Reshape", [y, b.const([-1, width, height, width_px], INT64)])
    return Tensor(y, width, height, width_px)


def _dense_concat(b, x, rng, width, stride):
    if stride > 1:  # transition: BN, ReLU, 1x1 conv, 2x2 average pool
        y = conv(b, activation(b, batch_norm(b, x), "relu"), width, 1, act=None)
        pooled = b.node("AveragePool", [y.name], kernel_shape=[2, 2], strides=[2, 2])
        return Tensor(pooled, width, y.height // 2, y.width // 2)
    growth = int(rng.choice([12, 16, 24, 32]))
    y = conv(b, activation(b, batch_norm(b, x), "relu"), 4 * growth, 1)
    y = conv(b, y, growth, 3, act=None)
    return Tensor(b.node("Concat", [x.name, y.name], axis=1), x.channels + growth, x.height, x.width)


def _inception(b, x, rng, width, stride):
    if stride > 1:
        pooled = b.node("MaxPool", [x.name], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
        return Tensor(pooled, x.channels, (x.height - 1) // 2 + 1, (x.width - 1) // 2 + 1)
    quarter = max(8, width // 4)
    one = conv(b, x, quarter, 1)
    three = conv(b, conv(b, x, quarter // 2 + 4, 1), quarter, 3)
    five = conv(b, conv(b, x, max(4, quarter // 4), 1), quarter // 2, int(rng.choice([3, 5])))
    pooled = b.node("MaxPool", [x.name], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1])
    pool = conv(b, Tensor(pooled, x.channels, x.height, x.width), quarter // 2, 1)
    channels = one.channels + three.channels + five.channels + pool.channels
    return Tensor(b.node("Concat", [one.name, three.name, five.name, pool.name], axis=1), channels, x.height, x.width)


def convnext_downsample(b: Builder, x: Tensor, width: int, stride: int) -> Tensor:
    """ConvNeXt's step between stages: a channels-last LayerNorm, then a strided conv."""
    y = b.node("Transpose", [layer_norm(b, b.node("Transpose", [x.name], perm=[0, 2, 3, 1]), x.channels)],
               perm=[0, 3, 1, 2])
    return conv(b, Tensor(y, x.channels, x.height, x.width), width, stride, stride, act=None)


def _convnext(b, x, rng, width, stride):
    if stride > 1 or x.channels != width:
        return convnext_downsample(b, x, width, stride)
    y = conv(b, x, x.channels, 7, 1, groups=x.channels, act=None)
    t = layer_norm(b, b.node("Transpose", [y.name], perm=[0, 2, 3, 1]), x.channels)
    t = linear(b, gelu(b, linear(b, t, x.channels, 4 * x.channels)), 4 * x.channels, x.channels)
    t = b.node("Transpose", [b.node("Mul", [b.weight([x.channels]), t])], perm=[0, 3, 1, 2])
    return Tensor(b.node("Add", [t, x.name]), x.channels, x.height, x.width)


# A block: (builder, input, rng, width, stride) -> output.
Block = Callable[[Builder, Tensor, np.random.Generator, int, int], Tensor]
Stem = Callable[[Builder, Tensor, np.random.Generator, int], Tensor]  # (builder, image, rng, width) -> feature map
BLOCKS: dict[str, Block] = {
    "basic_residual": _basic_residual, "bottleneck": _bottleneck, "inverted_residual": inverted_residual,
    "inverted_residual_se": _inverted_residual_se, "depthwise_separable": _depthwise_separable,
    "channel_shuffle": _channel_shuffle, "dense_concat": _dense_concat, "inception": _inception,
    "convnext": _convnext,
}


def transformer_mlp(b: Builder, rng, resolution: int, classes: int, spec: dict) -> str:
    """Patch embedding, pre-norm MLP blocks on tokens (N, T, C), mean over tokens, a linear head."""
    dim = int(rng.choice([64, 96, 128, 192, 256]))
    depth = int(rng.integers(2, 7))
    patch = int(rng.choice([8, 16]))
    ratio = int(rng.choice([2, 4]))
    grid = resolution // patch
    spec.update(dim=dim, depth=depth, patch=patch, mlp_ratio=ratio)
    embedded = b.node("Conv", ["input", b.weight([dim, 3, patch, patch]), b.weight([dim])],
                      kernel_shape=[patch, patch], strides=[patch, patch])
    tokens = b.node("Transpose", [b.node("Reshape", [embedded, b.const([0, dim, grid * grid], INT64)])],
                    perm=[0, 2, 1])
    for _ in range(depth):
        hidden = gelu(b, linear(b, layer_norm(b, tokens, dim), dim, ratio * dim))
        tokens = b.node("Add", [tokens, linear(b, hidden, ratio * dim, dim)])
    pooled = b.node("ReduceMean", [layer_norm(b, tokens, dim)], axes=[1], keepdims=0)
    return b.node("Gemm", [pooled, b.weight([classes, dim]), b.weight([classes])], transB=1)


def convnet(b: Builder, rng, block: Block, resolution: int, classes: int, spec: dict, stem: Stem | None = None) -> str:
    """A stem (a 3x3 or 7x7 conv of stride 2, or `stem`), maybe a max pool, two to four stages of `block`, global
    average pooling and a linear head; returns the logits."""
    base = int(rng.choice([8, 12, 16, 24, 32, 48, 58, 64]))
    image = Tensor("input", 3, resolution, resolution)
    x = stem(b, image, rng, base) if stem else conv(b, image, base, int(rng.choice([3, 7])), 2)
    if rng.random() < 0.5 and x.height >= 48:
        pooled = b.node("MaxPool", [x.name], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
        x = Tensor(pooled, x.channels, (x.height - 1) // 2 + 1, (x.width - 1) // 2 + 1)
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
            x = block(b, x, rng, width, stride)
    spec.update(base_width=base, stages=stages, depths=depths)
    flat = b.node("Flatten", [b.node("GlobalAveragePool", [x.name])], axis=1)
    return b.node("Gemm", [flat, b.weight([classes, x.channels]), b.weight([classes])], alpha=1.0, beta=1.0, transB=1)


def convnet_network(block: Block, stem: Stem | None = None) -> Network:
    """The image classifier made of `block`s (convnet)."""
    return classifier(lambda b, rng, resolution, classes, spec: convnet(b, rng, block, resolution, classes, spec, stem))
