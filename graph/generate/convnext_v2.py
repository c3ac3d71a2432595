"""The convnext_v2 family of the generator (graph.generate.modern registers it): ConvNeXt-V2 blocks with Global
Response Normalization, their MLP as 1x1 convs on NCHW (timm's conv_mlp) or as MatMuls on channels-last tensors, and
GELU mostly as torch.onnx's dynamo exporter writes it, which ONNX Runtime does not fuse."""

from __future__ import annotations

import math

import numpy as np

from graph.generate.builder import Builder, Tensor, conv, gelu, layer_norm, linear
from graph.generate.convnets import convnext_downsample

__all__ = ["convnext_v2_block"]


def _gelu_unfused(b: Builder, x: str) -> str:
    """GELU in the dynamo exporter's order: x * (0.5 * (1 + erf(x / sqrt 2))) (ONNX Runtime's Gelu fusion misses it)."""
    erf = b.node("Erf", [b.node("Div", [x, b.const(math.sqrt(2.0), scalar=True)])])
    half = b.node("Mul", [b.const(0.5, scalar=True), b.node("Add", [erf, b.const(1.0, scalar=True)])])
    return b.node("Mul", [x, half])


def _grn(b: Builder, x: str, channels: int, channels_last: bool) -> str:
    """Global Response Normalization: gamma * (x * n) + beta + x, n = ||x||_space / (mean over channels + eps)."""
    space, channel_axis = ([1, 2], -1) if channels_last else ([2, 3], 1)
    norm = b.node("ReduceL2", [x], axes=space, keepdims=1)
    mean = b.node("ReduceMean", [norm], axes=[channel_axis], keepdims=1)
    scaled = b.node("Mul", [x, b.node("Div", [norm, b.node("Add", [mean, b.const(1e-6, scalar=True)])])])
    shape = [1, 1, 1, channels] if channels_last else [1, channels, 1, 1]
    return b.node("Add", [b.node("Add", [b.node("Mul", [b.weight(shape), scaled]), b.weight(shape)]), x])


def convnext_v2_block(b: Builder, x: Tensor, rng: np.random.Generator, width: int, stride: int) -> Tensor:
    """A ConvNeXt-V2 block (a downsampling step where the stage changes size); fused or unfused GELU."""
    if stride > 1 or x.channels != width:
        return convnext_downsample(b, x, width, stride)
    channels, hidden = x.channels, 4 * x.channels
    gelu_of = _gelu_unfused if rng.random() < 0.7 else gelu
    y = conv(b, x, channels, 7, 1, groups=channels, act=None)
    normed = layer_norm(b, b.node("Transpose", [y.name], perm=[0, 2, 3, 1]), channels)
    if rng.random() < 0.5:  # timm's conv_mlp: back to NCHW, 1x1 convs
        t = b.node("Transpose", [normed], perm=[0, 3, 1, 2])
        t = conv(b, Tensor(t, channels, x.height, x.width), hidden, 1, act=None).name
        t = _grn(b, gelu_of(b, t), hidden, channels_last=False)
        t = conv(b, Tensor(t, hidden, x.height, x.width), channels, 1, act=None).name
    else:
        t = _grn(b, gelu_of(b, linear(b, normed, channels, hidden)), hidden, channels_last=True)
        t = b.node("Transpose", [linear(b, t, hidden, channels)], perm=[0, 3, 1, 2])
    return Tensor(b.node("Add", [t, x.name]), channels, x.height, x.width)
