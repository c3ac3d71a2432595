"""Linear algebra, convolution and pooling (whole-model graphs reach these by op type)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from estimator.errors import MeasureError
from estimator.measure.backends.pytorch.ops.registry import Fn, Spec, register
from estimator.measure.backends.pytorch.torch_import import load_torch, nn_functional
from graph.ops.window import window_geometry

__all__: list[str] = []


@register("MatMul")
def _matmul(spec: Spec) -> Fn:
    return load_torch().matmul


@register("Gemm")
def _gemm(spec: Spec) -> Fn:
    functional, torch = nn_functional(), load_torch()
    alpha, beta = float(spec.attr("alpha", 1.0)), float(spec.attr("beta", 1.0))
    trans_a, trans_b = int(spec.attr("transA", 0)), int(spec.attr("transB", 0))
    bias_shape = spec.shapes[2] if len(spec.shapes) > 2 else None
    if not trans_a and trans_b and alpha == 1.0 and beta == 1.0 and (bias_shape is None or len(bias_shape) == 1):
        return lambda a, b, c=None: functional.linear(a, b, c)

    def run(a, b, c=None):
        y = torch.matmul(a.t() if trans_a else a, b.t() if trans_b else b)
        if alpha != 1.0:
            y = y * alpha
        if c is not None:
            y = y + (c if beta == 1.0 else c * beta)
        return y
    return run


@register("Einsum")
def _einsum(spec: Spec) -> Fn:
    torch = load_torch()
    equation = str(spec.attr("equation"))
    return lambda *xs: torch.einsum(equation, *xs)


@register("Conv")
def _conv(spec: Spec) -> Fn:
    functional = nn_functional()
    x_shape, w_shape = spec.shapes[0], spec.shapes[1]
    rank = len(x_shape) - 2
    kernel = list(spec.attr("kernel_shape", ()) or w_shape[2:])
    strides = list(spec.attr("strides", ()) or [1] * rank)
    dilations = list(spec.attr("dilations", ()) or [1] * rank)
    groups = int(spec.attr("group", 1))
    begins, ends, _ = _window(spec, x_shape[2:], kernel, strides, dilations)
    conv = {1: functional.conv1d, 2: functional.conv2d, 3: functional.conv3d}.get(rank)
    if conv is None:
        raise MeasureError(f"Conv over {rank} spatial axes is not supported by the PyTorch backend")
    if begins == ends:
        return lambda x, w, b=None: conv(x, w, b, strides, begins, dilations, groups)
    pad = _torch_pad(begins, ends)
    return lambda x, w, b=None: conv(functional.pad(x, pad), w, b, strides, 0, dilations, groups)


@register(("MaxPool", "AveragePool"))
def _pool(spec: Spec) -> Fn:
    functional = nn_functional()
    x_shape = spec.shapes[0]
    rank = len(x_shape) - 2
    spatial = list(x_shape[2:])
    kind = "max" if spec.op_type == "MaxPool" else "avg"
    kernel = list(spec.attr("kernel_shape"))
    strides = list(spec.attr("strides", ()) or [1] * rank)
    dilations = list(spec.attr("dilations", ()) or [1] * rank)
    ceil_mode = bool(int(spec.attr("ceil_mode", 0)))
    include_pad = bool(int(spec.attr("count_include_pad", 0)))
    begins, ends, targets = _window(spec, spatial, kernel, strides, dilations, ceil_mode)
    effective = [(k - 1) * d + 1 for k, d in zip(kernel, dilations, strict=True)]
    if kind == "avg" and any(d != 1 for d in dilations):
        raise MeasureError("AveragePool with dilations is not supported by the PyTorch backend")
    pool = getattr(functional, f"{kind}_pool{rank}d", None)
    if pool is None:
        raise MeasureError(f"{spec.op_type} over {rank} spatial axes is not supported by the PyTorch backend")
    limits = [k // 2 for k in kernel]  # torch: "pad should be at most half of kernel size"
    native = begins == ends and all(p <= limit for p, limit in zip(begins, limits, strict=True))
    if native:
        natives = []
        for size, p, eff, s in zip(spatial, begins, effective, strides, strict=True):
            out = (math.ceil if ceil_mode else math.floor)((size + 2 * p - eff) / s) + 1
            if ceil_mode and (out - 1) * s >= size + p:
                out -= 1
            natives.append(out)
        native = natives == targets
    if native:
        if kind == "max":
            return lambda x: pool(x, kernel, strides, begins, dilations, ceil_mode)
        return lambda x: pool(x, kernel, strides, begins, ceil_mode, include_pad)
    # Asymmetric or oversized pads: pad explicitly (-inf for max, 0 for average) and pool without
    # padding; the extra end padding reproduces ceil_mode's output size.
    extra = [max(0, (out - 1) * s + eff - (size + b + e))
             for out, s, eff, size, b, e in zip(targets, strides, effective, spatial, begins, ends, strict=True)]
    pad = _torch_pad(begins, [e + x for e, x in zip(ends, extra, strict=True)])
    fill = float("-inf") if kind == "max" else 0.0
    if kind == "max":
        return lambda x: pool(functional.pad(x, pad, value=fill), kernel, strides, 0, dilations)
    return lambda x: pool(functional.pad(x, pad, value=fill), kernel, strides, 0)


@register(("GlobalAveragePool", "GlobalMaxPool"))
def _global_pool(spec: Spec) -> Fn:
    torch, functional = load_torch(), nn_functional()
    rank = spec.rank()
    dims = tuple(range(2, rank))
    if spec.op_type == "GlobalAveragePool":
        if rank == 4:
            return lambda x: functional.adaptive_avg_pool2d(x, 1)
        return lambda x: torch.mean(x, dim=dims, keepdim=True)
    if rank == 4:
        return lambda x: functional.adaptive_max_pool2d(x, 1)
    return lambda x: torch.amax(x, dim=dims, keepdim=True)


def _window(spec: Spec, spatial: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
            dilations: Sequence[int], ceil_mode: bool = False) -> tuple[list[int], list[int], list[int]]:
    """Begin pads, end pads and output sizes, by graph's window arithmetic."""
    pads = list(spec.attr("pads", ()) or [0] * (2 * len(spatial)))
    auto_pad = str(spec.attr("auto_pad", "NOTSET") or "NOTSET")
    return window_geometry(spatial, kernel, strides, dilations, pads, auto_pad, ceil_mode)


def _torch_pad(begins: Sequence[int], ends: Sequence[int]) -> list[int]:
    """ONNX begin/end pads per axis -> F.pad's (last axis first) list."""
    pad: list[int] = []
    for begin, end in zip(reversed(begins), reversed(ends), strict=True):
        pad += [begin, end]
    return pad
