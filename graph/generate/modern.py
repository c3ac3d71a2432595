"""The modern families of the generator (graph.generate): what timm, transformers and ultralytics export in 2026.

- attention: token encoders with multi-head attention (grouped-query heads, an additive learned bias as relative
  positions are, or ReLU linear attention), LayerNorm or RMSNorm, GELU (erf or tanh) or SwiGLU MLPs, over 16-4,096
  tokens, fed by the tokens themselves (an embedding's output), a Conv1d front end (audio) or a patch embedding.
- hybrid_attention: conv stages (inverted residuals), then attention over the flattened feature map (MobileViT,
  LeViT, EfficientFormer), HardSwish, SiLU or GELU.
- ghost: GhostNet bottlenecks (a 1x1 conv and a cheap depthwise conv, concatenated), SE, and GhostNetV2's decoupled
  fully connected attention (pool, 1x5 and 5x1 depthwise convs, sigmoid, nearest upsampling).
- reparam: re-parameterisable branches as exported before fusing (RepVGG 3x3 + 1x1 + BatchNorm identity, MobileOne's
  over-parameterised depthwise and pointwise branches, RepViT's token and channel mixers).
- convnext_v2: ConvNeXt-V2 blocks (a 7x7 depthwise conv, a LayerNorm, an MLP with GELU and Global Response
  Normalization: ReduceL2 over space, its mean over channels, a Div and the affine Mul/Add), with the MLP as 1x1 convs
  on NCHW (timm's conv_mlp) or as MatMuls on channels-last tensors, and GELU as torch.onnx's dynamo exporter writes it
  (0.5 * (1 + erf) first, then times x), which ONNX Runtime does not fuse: Erf runs as its own kernel.
- detection: a YOLOv8/YOLO11-style detector: C2f blocks (Split, bottlenecks, Concat), SPPF, an FPN/PAN neck with
  nearest upsampling, decoupled heads and the DFL box decoder (Reshape, Transpose, Softmax, a 1x1 Conv, Split).

Sizes are drawn so that a network stays near a GMAC at batch 1; attention over thousands of tokens up to 2.5 GMACs.
"""

from __future__ import annotations

import math

import numpy as np

from graph.generate.builder import (
    INT64,
    Builder,
    Io,
    Network,
    Tensor,
    activation,
    activation_of,
    add,
    batch_norm,
    classifier,
    conv,
    image_input,
    layer_norm,
    linear,
    rms_norm,
    upsample,
    value,
)
from graph.generate.convnets import convnet_network, inverted_residual
from graph.generate.convnext_v2 import convnext_v2_block

__all__ = ["MODERN_FAMILIES"]
# One attention block over 4,096 tokens needs about 2 GMACs even with a single head of 64: such graphs are only
# collected when the collection's per-graph cap allows them (scripts/collect.py --generated-max-macs).
_ATTENTION_MACS_BUDGET = 2.5e9


# -- attention ------------------------------------------------------------------------------------


def _heads(b: Builder, x: str, seq: int, heads: int, head_dim: int, perm: list[int]) -> str:
    """(N, T, heads x head_dim) -> (N, heads, T, head_dim), or (N, heads, head_dim, T) for keys."""
    return b.node("Transpose", [b.node("Reshape", [x, b.const([0, seq, heads, head_dim], INT64)])], perm=perm)


def _repeat_kv(b: Builder, x: str, kv_heads: int, groups: int, seq: int, head_dim: int, keys: bool) -> str:
    """Grouped-query attention's repeat_kv as exported: Unsqueeze, Expand, Reshape to every query head."""
    if groups == 1:
        return x
    inner = [head_dim, seq] if keys else [seq, head_dim]
    expanded = b.node("Expand", [b.node("Unsqueeze", [x, b.const([2], INT64)]), b.const([1, 1, groups, 1, 1], INT64)])
    return b.node("Reshape", [expanded, b.const([0, kv_heads * groups, *inner], INT64)])


def attention(b: Builder, x: str, seq: int, dim: int, heads: int, kv_heads: int, mixer: str, bias: bool) -> str:
    """Self-attention over (N, seq, dim) tokens, the output projection included."""
    head_dim = dim // heads
    kv_dim = kv_heads * head_dim
    q = _heads(b, linear(b, x, dim, dim), seq, heads, head_dim, [0, 2, 1, 3])
    k = _heads(b, linear(b, x, dim, kv_dim), seq, kv_heads, head_dim, [0, 2, 3, 1])
    v = _heads(b, linear(b, x, dim, kv_dim), seq, kv_heads, head_dim, [0, 2, 1, 3])
    k = _repeat_kv(b, k, kv_heads, heads // kv_heads, seq, head_dim, keys=True)
    v = _repeat_kv(b, v, kv_heads, heads // kv_heads, seq, head_dim, keys=False)
    if mixer == "linear":  # EfficientViT's ReLU linear attention: Q (K^T V) / (Q sum K)
        q, k = b.node("Relu", [q]), b.node("Relu", [k])
        numerator = b.node("MatMul", [q, b.node("MatMul", [k, v])])
        key_sum = b.node("ReduceSum", [k, b.const([-1], INT64)], keepdims=1)
        denominator = b.node("Add", [b.node("MatMul", [q, key_sum]), b.const(1e-6, scalar=True)])
        context = b.node("Div", [numerator, denominator])
    else:
        scores = b.node("Mul", [b.node("MatMul", [q, k]), b.const(1.0 / math.sqrt(head_dim), scalar=True)])
        if bias:  # a learned bias per head and token pair (relative positions, LeViT's attention biases)
            scores = b.node("Add", [scores, b.weight([heads, seq, seq])])
        context = b.node("MatMul", [b.node("Softmax", [scores], axis=-1), v])
    merged = b.node("Reshape", [b.node("Transpose", [context], perm=[0, 2, 1, 3]), b.const([0, seq, dim], INT64)])
    return linear(b, merged, dim, dim)


def mlp(b: Builder, x: str, dim: int, hidden: int, kind: str) -> str:
    if kind == "swiglu":  # LLaMA: down(silu(gate(x)) * up(x)), no biases
        gate = activation_of(b, linear(b, x, dim, hidden, bias=False), "silu")
        return linear(b, b.node("Mul", [gate, linear(b, x, dim, hidden, bias=False)]), hidden, dim, bias=False)
    return linear(b, activation_of(b, linear(b, x, dim, hidden), kind), hidden, dim)


def encoder_block(b: Builder, x: str, seq: int, spec: dict) -> str:
    """A pre-norm transformer block: x + attention(norm(x)), then + mlp(norm(x))."""
    dim = spec["dim"]
    norm = rms_norm if spec["norm"] == "rms_norm" else layer_norm
    x = b.node("Add", [x, attention(b, norm(b, x, dim), seq, dim, spec["heads"], spec["kv_heads"], spec["mixer"],
                                    spec["bias"])])
    return b.node("Add", [x, mlp(b, norm(b, x, dim), dim, spec["hidden"], spec["mlp"])])


def _block_macs(seq: int, spec: dict) -> float:
    dim, hidden = spec["dim"], spec["hidden"]
    kv_dim = dim // spec["heads"] * spec["kv_heads"]
    projections = seq * dim * (2 * dim + 2 * kv_dim)
    mixing = 2 * seq * dim * (dim // spec["heads"]) if spec["mixer"] == "linear" else 2 * seq * seq * dim
    return projections + mixing + seq * dim * hidden * (3 if spec["mlp"] == "swiglu" else 2)


def _draw_encoder(rng: np.random.Generator, seq: int, dims: list[int], head_dims: list[int]) -> dict:
    head_dim = int(rng.choice(head_dims))
    dim = int(rng.choice(dims)) // head_dim * head_dim or head_dim
    heads = dim // head_dim
    groups = [g for g in (2, 4) if heads % g == 0 and heads > g]
    kv_heads = heads // int(rng.choice(groups)) if groups and rng.random() < 0.3 else heads
    kind = str(rng.choice(["gelu", "gelu", "gelu_tanh", "swiglu", "silu", "hardswish"]))
    hidden = int(dim * rng.choice([2, 3, 4])) if kind != "swiglu" else int(dim * 8 / 3) // 8 * 8
    return {"dim": dim, "heads": heads, "kv_heads": kv_heads, "hidden": hidden, "mlp": kind,
            "norm": str(rng.choice(["layer_norm", "layer_norm", "rms_norm"])),
            "mixer": "linear" if rng.random() < 0.15 else "softmax",
            "bias": bool(rng.random() < 0.3 and seq <= 1024)}


def attention_network(b: Builder, rng: np.random.Generator, resolution: int, classes: int, spec: dict) -> Io:
    """A token encoder: tokens, a Conv1d front end or a patch embedding, then pre-norm attention blocks."""
    frontend = str(rng.choice(["tokens", "tokens", "conv1d", "patch"]))
    if frontend == "patch":
        grid, patch = int(rng.choice([7, 8, 12, 14, 16, 24, 32, 48, 64])), int(rng.choice([4, 8, 16]))
        seq = grid * grid
    else:
        seq = int(rng.choice([16, 32, 64, 128, 197, 256, 384, 512, 768, 1024, 1500, 2048, 3072, 4096]))
    encoder = _draw_encoder(rng, seq, [64, 128, 192, 256, 384, 512, 768], [32, 64, 64, 80, 128])
    depth = int(rng.integers(1, 7))
    while depth > 1 and depth * _block_macs(seq, encoder) > _ATTENTION_MACS_BUDGET:
        depth -= 1
    while encoder["heads"] > 1 and _block_macs(seq, encoder) > _ATTENTION_MACS_BUDGET:
        encoder = _narrower(encoder)
    spec.update(frontend=frontend, seq=seq, depth=depth, **encoder)
    dim = encoder["dim"]
    if frontend == "tokens":  # an embedding's output
        inputs, tokens = [value("input", ["batch", seq, dim])], "input"
    elif frontend == "conv1d":  # Whisper: two Conv1d + GELU over mel frames, the second strided, then positions
        mels = int(rng.choice([64, 80, 128]))
        inputs = [value("input", ["batch", mels, 2 * seq])]
        x = b.node("Conv", ["input", b.weight([dim, mels, 3]), b.weight([dim])], kernel_shape=[3], pads=[1, 1],
                   strides=[1])
        x = b.node("Conv", [activation_of(b, x, "gelu"), b.weight([dim, dim, 3]), b.weight([dim])], kernel_shape=[3],
                   pads=[1, 1], strides=[2])
        tokens = b.node("Add", [b.node("Transpose", [activation_of(b, x, "gelu")], perm=[0, 2, 1]), b.weight([seq, dim])])
    else:
        spec.update(resolution=grid * patch, patch=patch)
        inputs = [image_input(grid * patch)]
        embedded = b.node("Conv", ["input", b.weight([dim, 3, patch, patch]), b.weight([dim])],
                          kernel_shape=[patch, patch], strides=[patch, patch])
        tokens = b.node("Transpose", [b.node("Reshape", [embedded, b.const([0, dim, seq], INT64)])], perm=[0, 2, 1])
    for _ in range(depth):
        tokens = encoder_block(b, tokens, seq, encoder)
    norm = rms_norm if encoder["norm"] == "rms_norm" else layer_norm
    tokens = norm(b, tokens, dim)
    if frontend != "patch":
        return inputs, [value(tokens, ["batch", seq, dim])]
    pooled = b.node("ReduceMean", [tokens], axes=[1], keepdims=0)
    logits = b.node("Gemm", [pooled, b.weight([classes, dim]), b.weight([classes])], transB=1)
    return inputs, [value(logits, ["batch", classes])]


def _narrower(encoder: dict) -> dict:
    """The same encoder with half its heads, for sequences whose attention would be too slow."""
    head_dim, groups = encoder["dim"] // encoder["heads"], encoder["heads"] // encoder["kv_heads"]
    heads = max(1, encoder["heads"] // 2)
    hidden = max(8, encoder["hidden"] * heads // encoder["heads"] // 8 * 8)
    return {**encoder, "dim": heads * head_dim, "heads": heads, "kv_heads": heads // groups if heads % groups == 0
            and heads > groups else heads, "hidden": hidden}


def _hybrid_attention(b: Builder, rng: np.random.Generator, resolution: int, classes: int, spec: dict) -> str:
    """Conv stages, then attention over the flattened feature map, back to a map, pooled to logits (resolution >= 64)."""
    act = str(rng.choice(["hardswish", "silu", "gelu"]))  # the MLPs' activation (LeViT, MobileViT, EfficientFormer)
    conv_act = "hardswish" if act == "hardswish" else "silu"
    width = int(rng.choice([16, 24, 32]))
    x = conv(b, Tensor("input", 3, resolution, resolution), width, 3, 2, act=conv_act)
    while x.height > 16 or x.height * x.width > 256:
        width = int(width * rng.choice([1.5, 2])) // 8 * 8
        for index in range(int(rng.integers(1, 3))):
            x = inverted_residual(b, x, rng, width, 2 if index == 0 else 1)
    seq = x.height * x.width
    encoder = _draw_encoder(rng, seq, [64, 96, 128, 192, 256], [16, 32, 32, 64])
    encoder["mlp"] = act
    depth = int(rng.integers(1, 5))
    spec.update(seq=seq, depth=depth, **encoder)
    dim = encoder["dim"]
    local = conv(b, conv(b, x, x.channels, 3, act=conv_act), dim, 1, act=None)
    tokens = b.node("Transpose", [b.node("Reshape", [local.name, b.const([0, dim, seq], INT64)])], perm=[0, 2, 1])
    for _ in range(depth):
        tokens = encoder_block(b, tokens, seq, encoder)
    back = b.node("Reshape", [b.node("Transpose", [tokens], perm=[0, 2, 1]), b.const([0, dim, x.height, x.width], INT64)])
    y = conv(b, Tensor(back, dim, x.height, x.width), x.channels, 1, act=conv_act)
    if rng.random() < 0.5:  # MobileViT: concatenate with the block's input and fuse with a 3x3 conv
        joined = Tensor(b.node("Concat", [x.name, y.name], axis=1), 2 * x.channels, x.height, x.width)
        y = conv(b, joined, x.channels, 3, act=conv_act)
    flat = b.node("Flatten", [b.node("GlobalAveragePool", [y.name])], axis=1)
    return b.node("Gemm", [flat, b.weight([classes, y.channels]), b.weight([classes])], transB=1)


# -- ghost and re-parameterisable blocks (run by the convnet skeleton) -----------------------------


def _ghost_module(b: Builder, x: Tensor, channels: int, act: str | None, decoupled: bool) -> Tensor:
    primary_channels = math.ceil(channels / 2)
    primary = conv(b, x, primary_channels, 1, act=act)
    cheap = conv(b, primary, primary_channels, 3, groups=primary_channels, act=act)
    y = b.node("Concat", [primary.name, cheap.name], axis=1)
    if 2 * primary_channels != channels:
        y = b.node("Slice", [y, b.const([0], INT64), b.const([channels], INT64), b.const([1], INT64)])
    out = Tensor(y, channels, x.height, x.width)
    if not decoupled or x.height % 2 or x.width % 2:
        return out
    # GhostNetV2's DFC attention: a gate computed at half resolution with 1x5 and 5x1 depthwise convs
    pooled = b.node("AveragePool", [x.name], kernel_shape=[2, 2], strides=[2, 2])
    gate = conv(b, Tensor(pooled, x.channels, x.height // 2, x.width // 2), channels, 1, act=None)
    gate = conv(b, conv(b, gate, channels, (1, 5), groups=channels, act=None), channels, (5, 1), groups=channels,
                act="sigmoid")
    return Tensor(b.node("Mul", [out.name, upsample(b, gate).name]), channels, x.height, x.width)


def _squeeze_excite(b: Builder, x: Tensor, act: str, gate: str) -> Tensor:
    pooled = Tensor(b.node("GlobalAveragePool", [x.name]), x.channels, 1, 1)
    weights = conv(b, conv(b, pooled, max(8, x.channels // 4), 1, act=act), x.channels, 1, act=gate)
    return Tensor(b.node("Mul", [x.name, weights.name]), x.channels, x.height, x.width)


def ghost_block(b: Builder, x: Tensor, rng: np.random.Generator, width: int, stride: int) -> Tensor:
    """A GhostNet bottleneck: ghost module, (strided depthwise conv), (SE), ghost module, residual."""
    mid = max(8, int(x.channels * rng.choice([2, 3, 4, 6])) // 4 * 4)
    kernel = int(rng.choice([3, 5]))
    decoupled = bool(rng.random() < 0.5)
    y = _ghost_module(b, x, mid, "relu", decoupled)
    if stride > 1:
        y = conv(b, y, mid, kernel, stride, groups=mid, act=None)
    if rng.random() < 0.4:
        y = _squeeze_excite(b, y, "relu", "hardsigmoid")
    y = _ghost_module(b, y, width, None, False)
    if stride == 1 and x.channels == width:
        return add(b, y, x)
    short = conv(b, conv(b, x, x.channels, kernel, stride, groups=x.channels, act=None), width, 1, act=None)
    return add(b, y, short)


def _branches(b: Builder, x: Tensor, width: int, kernels: list[int], stride: int, groups: int, act: str) -> Tensor:
    """Parallel convs (BatchNorm folded) and, where shapes allow, a BatchNorm identity branch, summed, then `act`."""
    outputs = [conv(b, x, width, kernel, stride, groups=groups, act=None) for kernel in kernels]
    if stride == 1 and x.channels == width:
        outputs.append(batch_norm(b, x))
    total = outputs[0]
    for branch in outputs[1:]:
        total = add(b, total, branch)
    return activation(b, total, act)


def reparam_block(b: Builder, x: Tensor, rng: np.random.Generator, width: int, stride: int) -> Tensor:
    """RepVGG, MobileOne or RepViT blocks with their training-time branches, as exported unfused."""
    style = str(rng.choice(["repvgg", "mobileone", "repvit"]))
    if style == "repvgg":
        return _branches(b, x, width, [3, 1], stride, 1, "relu")
    if style == "mobileone":
        copies = int(rng.integers(1, 4))
        y = _branches(b, x, x.channels, [3] * copies + [1], stride, x.channels, "relu")
        return _branches(b, y, width, [1] * copies, 1, 1, "relu")
    # RepViT: a depthwise token mixer (3x3 + 1x1 + identity), optional SE, a GELU channel-mixer MLP, residuals
    if stride > 1 or x.channels != width:
        y = conv(b, conv(b, x, x.channels, 3, stride, groups=x.channels, act=None), width, 1, act=None)
    else:
        y = _branches(b, x, width, [3, 1], 1, x.channels, None)
    if rng.random() < 0.5:
        y = _squeeze_excite(b, y, "relu", "sigmoid")
    hidden = conv(b, y, 2 * width, 1, act="gelu")
    return add(b, y, conv(b, hidden, width, 1, act=None))


# -- detection ------------------------------------------------------------------------------------


def _c2f(b: Builder, x: Tensor, width: int, repeats: int, residual: bool) -> Tensor:
    """YOLOv8's C2f: 1x1 conv, Split in two halves, bottlenecks on the last part, Concat of all parts, 1x1 conv."""
    half = width // 2
    y = conv(b, x, 2 * half, 1, act="silu")
    parts = [Tensor(name, half, y.height, y.width)
             for name in b.nodes_out("Split", [y.name, b.const([half, half], INT64)], 2, axis=1)]
    for _ in range(repeats):
        z = conv(b, conv(b, parts[-1], half, 3, act="silu"), half, 3, act="silu")
        parts.append(add(b, z, parts[-1]) if residual else z)
    joined = Tensor(b.node("Concat", [p.name for p in parts], axis=1), half * len(parts), y.height, y.width)
    return conv(b, joined, width, 1, act="silu")


def _sppf(b: Builder, x: Tensor) -> Tensor:
    y = conv(b, x, x.channels // 2, 1, act="silu")
    pools = [y.name]
    for _ in range(3):
        pools.append(b.node("MaxPool", [pools[-1]], kernel_shape=[5, 5], strides=[1, 1], pads=[2, 2, 2, 2]))
    joined = Tensor(b.node("Concat", pools, axis=1), 4 * y.channels, y.height, y.width)
    return conv(b, joined, x.channels, 1, act="silu")


def _concat(b: Builder, x: Tensor, y: Tensor) -> Tensor:
    return Tensor(b.node("Concat", [x.name, y.name], axis=1), x.channels + y.channels, x.height, x.width)


def detection_network(b: Builder, rng: np.random.Generator, resolution: int, classes: int, spec: dict) -> Io:
    """Backbone (strided convs and C2f), SPPF, FPN/PAN neck, decoupled heads at strides 8/16/32, DFL decoding."""
    resolution = int(rng.choice([128, 160, 192, 224, 256, 320]))
    base = int(rng.choice([8, 16, 16, 24, 32]))
    repeats = int(rng.choice([1, 1, 2]))
    classes = int(rng.choice([1, 20, 80]))
    reg_max = 16
    spec.update(resolution=resolution, classes=classes, base_width=base, repeats=repeats)
    x = conv(b, conv(b, Tensor("input", 3, resolution, resolution), base, 3, 2, act="silu"), 2 * base, 3, 2, act="silu")
    x = _c2f(b, x, 2 * base, repeats, True)
    p3 = _c2f(b, conv(b, x, 4 * base, 3, 2, act="silu"), 4 * base, repeats, True)
    p4 = _c2f(b, conv(b, p3, 8 * base, 3, 2, act="silu"), 8 * base, repeats, True)
    p5 = _sppf(b, _c2f(b, conv(b, p4, 16 * base, 3, 2, act="silu"), 16 * base, repeats, True))
    n4 = _c2f(b, _concat(b, upsample(b, p5), p4), 8 * base, repeats, False)
    n3 = _c2f(b, _concat(b, upsample(b, n4), p3), 4 * base, repeats, False)
    m4 = _c2f(b, _concat(b, conv(b, n3, 4 * base, 3, 2, act="silu"), n4), 8 * base, repeats, False)
    m5 = _c2f(b, _concat(b, conv(b, m4, 8 * base, 3, 2, act="silu"), p5), 16 * base, repeats, False)
    box_width, class_width = max(16, base, 4 * reg_max), max(4 * base, min(classes, 100))  # as YOLOv8's head sizes them
    levels, anchors = [], 0
    for level in (n3, m4, m5):
        box = conv(b, conv(b, conv(b, level, box_width, 3, act="silu"), box_width, 3, act="silu"), 4 * reg_max, 1,
                   act=None)
        scores = conv(b, conv(b, conv(b, level, class_width, 3, act="silu"), class_width, 3, act="silu"), classes, 1,
                      act=None)
        joined = b.node("Concat", [box.name, scores.name], axis=1)
        levels.append(b.node("Reshape", [joined, b.const([0, 4 * reg_max + classes, -1], INT64)]))
        anchors += level.height * level.width
    everything = b.node("Concat", levels, axis=2)
    box, scores = b.nodes_out("Split", [everything, b.const([4 * reg_max, classes], INT64)], 2, axis=1)
    # DFL: a softmax over reg_max bins per side, their expectation by a fixed 1x1 conv
    bins = b.node("Transpose", [b.node("Reshape", [box, b.const([0, 4, reg_max, anchors], INT64)])], perm=[0, 2, 1, 3])
    expectation = b.node("Conv", [b.node("Softmax", [bins], axis=1), b.weight([1, reg_max, 1, 1])], kernel_shape=[1, 1])
    distances = b.node("Reshape", [expectation, b.const([0, 4, anchors], INT64)])
    left_top, right_bottom = b.nodes_out("Split", [distances, b.const([2, 2], INT64)], 2, axis=1)
    points = b.weight([1, 2, anchors])
    top_left, bottom_right = b.node("Sub", [points, left_top]), b.node("Add", [points, right_bottom])
    centre = b.node("Div", [b.node("Add", [top_left, bottom_right]), b.const(2.0, scalar=True)])
    size = b.node("Sub", [bottom_right, top_left])
    boxes = b.node("Mul", [b.node("Concat", [centre, size], axis=1), b.weight([1, anchors])])
    output = b.node("Concat", [boxes, b.node("Sigmoid", [scores])], axis=1)
    return [image_input(resolution)], [value(output, ["batch", 4 + classes, anchors])]


# New families go at the end (graph.generate: a family's index seeds its networks).
MODERN_FAMILIES: dict[str, Network] = {
    "attention": attention_network,
    "hybrid_attention": classifier(_hybrid_attention),
    "ghost": convnet_network(ghost_block),
    "reparam": convnet_network(reparam_block),
    "detection": detection_network,
    "convnext_v2": convnet_network(convnext_v2_block),
}
