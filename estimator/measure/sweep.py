"""A seeded sweep of sampled layer configurations that covers and extends the zoo's ranges.

Each sampled configuration is built as a tiny ONNX graph by graph/ and read back through it, so
sweep records are exactly the records a real model would give (and invalid samples are
rejected by the same checks).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from graph.build import NodeSpec, SmallModel, small_model
from graph.errors import GraphError
from graph.extract import extract_layers
from graph.records import Layer, LayerType

__all__ = ["SWEEP_OTHER_OPS", "SweepLimits", "sample_layers"]

SWEEP_OTHER_OPS = (
    "Relu", "Clip", "Sigmoid", "HardSwish", "HardSigmoid", "Tanh", "Erf", "Mul", "Add", "Div", "Sub",
    "Concat", "BatchNormalization", "LayerNormalization", "Softmax", "Transpose",
)
_BATCH_SIZES = (1, 1, 1, 2, 4, 8, 16)


@dataclass(frozen=True)
class SweepLimits:
    """Caps that keep one sampled configuration affordable (chosen from the zoo's largest layers)."""

    max_macs: int = 2_000_000_000  # about the largest zoo conv at batch 1 (VGG 64->64 at 224x224: 1.85 G)
    max_elements: int = 20_000_000  # activations: about 80 MB of float32 per tensor
    max_channels: int = 2048
    max_spatial: int = 320
    max_kernel: int = 11
    max_stride: int = 4


def sample_layers(layer_type: LayerType, count: int, seed: int, limits: SweepLimits | None = None) -> Iterator[Layer]:
    """`count` valid, seeded samples of one layer type (the same seed gives the same layers)."""
    limits = limits or SweepLimits()
    rng = np.random.default_rng([seed, _TYPE_SEED[layer_type]])
    sampler = _SAMPLERS[layer_type]
    produced = 0
    while produced < count:
        graph = sampler(rng, limits)
        if graph is None:
            continue
        try:
            layers = extract_layers(graph).layers
        except GraphError:
            continue  # e.g. a kernel larger than its padded input: resample
        layer = next((item for item in layers if item.layer_type == layer_type), None)
        if layer is None or not _affordable(layer, limits):
            continue
        produced += 1
        yield layer


_TYPE_SEED = {"convolutional": 1, "pooling": 2, "dense": 3, "other": 4}


def _log_int(rng: np.random.Generator, low: int, high: int) -> int:
    return round(math.exp(rng.uniform(math.log(low), math.log(high))))


def _batch(rng: np.random.Generator) -> int:
    return int(rng.choice(_BATCH_SIZES))


def _spatial(rng: np.random.Generator, high: int) -> tuple[int, int]:
    height = _log_int(rng, 1, high)
    width = height if rng.random() < 0.8 else _log_int(rng, 1, high)
    return height, width


def _sample_conv(rng: np.random.Generator, limits: SweepLimits) -> SmallModel | None:
    batch = _batch(rng)
    channels = _log_int(rng, 1, limits.max_channels)
    style = rng.random()
    if style < 0.2:  # depthwise
        groups, out_channels = channels, channels * int(rng.choice((1, 1, 1, 2)))
    elif style < 0.3 and channels >= 4:  # grouped (ResNeXt-like)
        choices = [g for g in (2, 4, 8, 16, 32, 64) if channels % g == 0]
        if not choices:
            return None
        groups = int(rng.choice(choices))
        out_channels = max(groups, _log_int(rng, 1, limits.max_channels) // groups * groups)
    else:
        groups, out_channels = 1, _log_int(rng, 1, limits.max_channels)
    height, width = _spatial(rng, limits.max_spatial)
    kernel = int(rng.choice((1, 1, 3, 3, 3, 5, 7, 11))) if rng.random() < 0.8 else int(rng.integers(1, limits.max_kernel + 1))
    kernel_w = kernel if rng.random() < 0.9 else int(rng.integers(1, limits.max_kernel + 1))
    stride = int(rng.choice((1, 1, 1, 2, 2, 3, 4)))
    dilation = 1 if rng.random() < 0.9 else int(rng.integers(2, 4))
    pad_style = rng.random()
    pads = [0, 0, 0, 0]
    if pad_style < 0.6:
        pads = [kernel // 2, kernel_w // 2, kernel // 2, kernel_w // 2]
    elif pad_style < 0.8:
        pads = [int(rng.integers(0, kernel // 2 + 1)) for _ in range(4)]
    node = NodeSpec("Conv", ("X", "W", "B") if rng.random() < 0.5 else ("X", "W"), ("Y",),
                    {"kernel_shape": [kernel, kernel_w], "strides": [stride, stride], "pads": pads,
                     "dilations": [dilation, dilation], "group": groups})
    weights = {"W": (out_channels, channels // groups, kernel, kernel_w), "B": (out_channels,)}
    return small_model([node], {"X": (batch, channels, height, width)}, weights)


def _sample_pool(rng: np.random.Generator, limits: SweepLimits) -> SmallModel | None:
    batch = _batch(rng)
    channels = _log_int(rng, 1, limits.max_channels)
    height, width = _spatial(rng, 224)
    kind = "Max" if rng.random() < 0.6 else "Average"
    inputs = {"X": (batch, channels, height, width)}
    if rng.random() < 0.2:
        return small_model([NodeSpec(f"Global{kind}Pool", ("X",), ("Y",))], inputs)
    kernel = int(rng.choice((1, 2, 3, 3, 5, 7)))
    stride = int(rng.choice((1, 2, 2, 3)))
    pad = int(rng.integers(0, kernel // 2 + 1)) if rng.random() < 0.4 else 0
    attributes = {"kernel_shape": [kernel, kernel], "strides": [stride, stride], "pads": [pad] * 4,
                  "ceil_mode": int(rng.random() < 0.2)}
    if kind == "Average":
        attributes["count_include_pad"] = int(rng.random() < 0.5)
    return small_model([NodeSpec(f"{kind}Pool", ("X",), ("Y",), attributes)], inputs)


def _sample_dense(rng: np.random.Generator, limits: SweepLimits) -> SmallModel | None:
    batch = _batch(rng)
    in_features = _log_int(rng, 8, 25088)
    out_features = _log_int(rng, 8, 8192)
    if rng.random() < 0.6:
        node = NodeSpec("Gemm", ("X", "W", "B"), ("Y",), {"transB": 1})
        return small_model([node], {"X": (batch, in_features)}, {"W": (out_features, in_features), "B": (out_features,)})
    in_features = _log_int(rng, 8, 4096)
    side = _log_int(rng, 1, 56)
    shape = (batch, side, side, in_features) if rng.random() < 0.7 else (batch, side * side, in_features)
    nodes = [NodeSpec("MatMul", ("X", "W"), ("XW",)), NodeSpec("Add", ("XW", "B"), ("Y",))]
    return small_model(nodes, {"X": shape}, {"W": (in_features, out_features), "B": (out_features,)})


def _sample_other(rng: np.random.Generator, limits: SweepLimits) -> SmallModel | None:
    op_type = str(rng.choice(SWEEP_OTHER_OPS))
    batch = _batch(rng)
    channels = _log_int(rng, 1, limits.max_channels)
    height, width = _spatial(rng, 112)
    shape = [batch, channels, height, width]
    if op_type in ("LayerNormalization", "Softmax") and rng.random() < 0.7:
        shape = [batch, height, width, channels]  # normalised over the last (channel) axis, as in ConvNeXt
    inputs: dict[str, tuple[int, ...]] = {"X": tuple(shape)}
    weights: dict[str, tuple[int, ...]] = {}
    scalars: dict[str, float] = {}
    names = ["X"]
    attributes: dict[str, object] = {}
    if op_type in ("Mul", "Add", "Div", "Sub"):
        other_shape = list(shape) if rng.random() < 0.6 else [batch, channels, 1, 1]
        inputs["X2"] = tuple(other_shape)
        names.append("X2")
    elif op_type == "Concat":
        for position in range(int(rng.integers(1, 4))):
            name = f"X{position + 2}"
            inputs[name] = (batch, _log_int(rng, 1, 512), height, width)
            names.append(name)
        attributes["axis"] = 1
    elif op_type == "Clip":
        scalars = {"min": 0.0, "max": 6.0}
        names += ["min", "max"]
    elif op_type == "BatchNormalization":
        weights = {name: (channels,) for name in ("scale", "bias", "mean", "var")}
        names += ["scale", "bias", "mean", "var"]
    elif op_type == "LayerNormalization":
        weights = {"scale": (shape[-1],), "bias": (shape[-1],)}
        names += ["scale", "bias"]
        attributes["axis"] = -1
    elif op_type == "Softmax":
        attributes["axis"] = -1
    elif op_type == "Transpose":
        attributes["perm"] = [0, 2, 3, 1] if rng.random() < 0.5 else [0, 3, 1, 2]
    return small_model([NodeSpec(op_type, tuple(names), ("Y",), attributes)], inputs, weights, scalars)


def _affordable(layer: Layer, limits: SweepLimits) -> bool:
    macs = getattr(layer, "macs", 0)
    if macs > limits.max_macs:
        return False
    elements = getattr(layer, "input_elements", None)
    if elements is None:
        if hasattr(layer, "input_chw"):
            elements = layer.batch_size * math.prod(layer.input_chw)
        else:
            elements = layer.input_size
    return elements <= limits.max_elements


_SAMPLERS = {"convolutional": _sample_conv, "pooling": _sample_pool, "dense": _sample_dense, "other": _sample_other}
