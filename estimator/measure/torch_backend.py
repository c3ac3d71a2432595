"""PyTorch as a measuring backend: each layer record runs as the torch call that computes it.

Conv, pooling and dense records become ``torch.nn.functional`` calls with the record's exact
configuration; other records go through a table of ONNX op type -> torch callable. Whole models
run in torch too: ``model_runner`` executes the ONNX graph node by node with the same table (the
same graph whose layers are measured), and ``torch_model_runner`` times an ``nn.Module``.

On CUDA every call is timed with a pair of CUDA events, the host never runs more than a few
calls ahead of the device, and the loop ends with a synchronisation; on the CPU the loop is
``timing.time_calls``. Everything runs under ``torch.inference_mode()``.

torch is optional: this module imports without it, and constructing ``TorchBackend`` without
torch raises MeasureError saying how to install it.

``CounterAlignedSensor`` wraps an energy-counter sensor (NVML) so that the measured loop starts
and ends on counter updates: the backend keeps the workload running until the counter ticks at
both ends, which removes the counter's quantisation error from the window.
"""

from __future__ import annotations

import dataclasses
import math
import operator
import platform
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import reduce
from typing import Any

import numpy as np
import onnx

from estimator.errors import MeasureError, SensorError
from estimator.measure.backend import Backend
from estimator.measure.sensors import NvmlSensor, PowerReading, PowerSensor
from estimator.measure.timing import LoopPolicy, time_calls
from graph.records import ConvLayer, DenseLayer, Layer, OtherLayer, PoolLayer

__all__ = ["SUPPORTED_OTHER_OPS", "CounterAlignedSensor", "TorchBackend", "TorchSettings", "torch_available"]

_INSTALL_HINT = "pip install torch (or the project's 'zoo' extra: pip install -e '.[zoo]')"
_DTYPES = ("float32", "float16", "bfloat16", "float64")


def torch_available() -> bool:
    """Whether torch can be imported here."""
    try:
        _torch()
    except MeasureError:
        return False
    return True


def _torch() -> Any:
    try:
        import torch
    except ImportError as error:
        raise MeasureError(f"the PyTorch backend needs torch, which is not installed ({error}); "
                           f"{_INSTALL_HINT}") from None
    return torch


def _functional() -> Any:
    return _torch().nn.functional


# ----------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class TorchSettings:
    """How layers run in torch; recorded with every measurement.

    device: "cuda", "cuda:N" or "cpu"; None picks "cuda" when torch sees a GPU, else "cpu".
    dtype: the floating-point type of every float tensor (records' float dtypes are replaced).
    cudnn_benchmark: let cuDNN time its algorithms for each new configuration (torch's default: off).
    allow_tf32: let float32 convolutions and matmuls use TF32 tensor cores (off: true float32).
    cpu_threads: torch's intra-op threads on the CPU; None leaves torch's default.
    queue_depth: CUDA calls the host may run ahead of the device inside the timed loop.
    """

    device: str | None = None
    dtype: str = "float32"
    cudnn_benchmark: bool = False
    allow_tf32: bool = False
    cpu_threads: int | None = None
    queue_depth: int = 2


# ----------------------------------------------------------------------------- op specs


@dataclass
class _Spec:
    """What a builder knows about one node when it builds the torch callable."""

    op_type: str
    attrs: dict[str, Any]
    shapes: list[tuple[int, ...] | None]  # input shapes; None for a missing optional input
    static: dict[int, np.ndarray]  # inputs whose values are known at build time
    opset: int
    out_shapes: list[tuple[int, ...]] | None = None

    def attr(self, name: str, default: Any = None) -> Any:
        return self.attrs.get(name, default)

    def static_ints(self, position: int) -> list[int] | None:
        values = self.static.get(position)
        return None if values is None else [int(v) for v in np.asarray(values).reshape(-1)]

    def static_float(self, position: int) -> float | None:
        values = self.static.get(position)
        if values is None or np.asarray(values).size != 1:
            return None
        return float(np.asarray(values).reshape(-1)[0])

    def rank(self, position: int = 0) -> int:
        shape = self.shapes[position] if position < len(self.shapes) else None
        if shape is None:
            raise MeasureError(f"{self.op_type}: the shape of input {position} is unknown")
        return len(shape)

    def axis(self, value: int, position: int = 0) -> int:
        return value % self.rank(position) if self.rank(position) else 0


Fn = Callable[..., Any]
Builder = Callable[[_Spec], Fn]


def _unary(name: str) -> Builder:
    def build(spec: _Spec) -> Fn:
        torch = _torch()
        fn = getattr(torch, name)
        return lambda x, *_: fn(x)
    return build


def _functional_unary(name: str, **fixed: Any) -> Builder:
    def build(spec: _Spec) -> Fn:
        fn = getattr(_functional(), name)
        return lambda x, *_: fn(x, **fixed)
    return build


def _scalar_inputs(spec: _Spec) -> dict[int, float | int]:
    """Single-element constants that a torch model would write as Python numbers."""
    ranks = [len(shape) for shape in spec.shapes if shape is not None]
    top = max(ranks) if ranks else 0
    scalars = {}
    for position, values in spec.static.items():
        shape = spec.shapes[position] if position < len(spec.shapes) else None
        array = np.asarray(values)
        if array.size == 1 and array.dtype.kind in "fiu" and shape is not None and len(shape) < top:
            value = array.reshape(-1)[0]
            scalars[position] = float(value) if array.dtype.kind == "f" else int(value)
    return scalars


def _binary(op: Callable[[Any, Any], Any]) -> Builder:
    def build(spec: _Spec) -> Fn:
        scalars = _scalar_inputs(spec)
        if 1 in scalars and 0 not in scalars:
            value = scalars[1]
            return lambda a, b: op(a, value)
        if 0 in scalars and 1 not in scalars:
            value = scalars[0]
            return lambda a, b: op(value, b)
        return op
    return build


def _variadic(name: str) -> Builder:
    def build(spec: _Spec) -> Fn:
        torch = _torch()
        if name in ("Sum", "Mean"):
            def total(*xs):
                present = [x for x in xs if x is not None]
                result = reduce(operator.add, present)
                return result / len(present) if name == "Mean" else result
            return total
        pairwise = torch.maximum if name == "Max" else torch.minimum
        return lambda *xs: reduce(pairwise, [x for x in xs if x is not None])
    return build


def _compare(name: str) -> Builder:
    def build(spec: _Spec) -> Fn:
        return getattr(_torch(), name)
    return build


def _b_hardsigmoid(spec: _Spec) -> Fn:
    alpha, beta = float(spec.attr("alpha", 0.2)), float(spec.attr("beta", 0.5))
    if abs(alpha - 1 / 6) < 1e-6 and beta == 0.5:
        fn = _functional().hardsigmoid
        return lambda x, *_: fn(x)
    return lambda x, *_: (x * alpha + beta).clamp_(0.0, 1.0)


def _b_leaky_relu(spec: _Spec) -> Fn:
    slope = float(spec.attr("alpha", 0.01))
    fn = _functional().leaky_relu
    return lambda x, *_: fn(x, slope)


def _b_elu(spec: _Spec) -> Fn:
    alpha = float(spec.attr("alpha", 1.0))
    fn = _functional().elu if spec.op_type == "Elu" else _functional().celu
    return lambda x, *_: fn(x, alpha)


def _b_selu(spec: _Spec) -> Fn:
    fn = _functional().selu
    return lambda x, *_: fn(x)


def _b_thresholded_relu(spec: _Spec) -> Fn:
    alpha = float(spec.attr("alpha", 1.0))
    fn = _functional().threshold
    return lambda x, *_: fn(x, alpha, 0.0)


def _b_gelu(spec: _Spec) -> Fn:
    approximate = str(spec.attr("approximate", "none"))
    fn = _functional().gelu
    return lambda x, *_: fn(x, approximate=approximate)


def _b_prelu(spec: _Spec) -> Fn:
    torch, functional = _torch(), _functional()
    x_shape, slope_shape = spec.shapes[0], spec.shapes[1]
    channels = x_shape[1] if x_shape is not None and len(x_shape) > 1 else 1
    if slope_shape is not None and math.prod(slope_shape) in (1, channels):
        return lambda x, slope: functional.prelu(x, slope.reshape(-1))
    return lambda x, slope: torch.where(x >= 0, x, x * slope)


def _b_clip(spec: _Spec) -> Fn:
    torch = _torch()
    if spec.opset < 11:
        low, high = spec.attr("min"), spec.attr("max")
    else:
        low, high = spec.static_float(1), spec.static_float(2)
    dynamic_low = low is None and len(spec.shapes) > 1 and spec.shapes[1] is not None
    dynamic_high = high is None and len(spec.shapes) > 2 and spec.shapes[2] is not None
    if dynamic_low or dynamic_high:
        return lambda x, a=None, b=None: torch.clamp(x, a if dynamic_low else low, b if dynamic_high else high)
    if low is None and high is None:
        return lambda x, *_: x.clone()
    return lambda x, *_: torch.clamp(x, low, high)


def _b_mod(spec: _Spec) -> Fn:
    torch = _torch()
    return torch.fmod if int(spec.attr("fmod", 0)) else torch.remainder


def _b_where(spec: _Spec) -> Fn:
    torch = _torch()
    return lambda condition, x, y: torch.where(condition.bool(), x, y)


def _b_cast(spec: _Spec) -> Fn:
    dtype = _onnx_torch_dtype(int(spec.attr("to", onnx.TensorProto.FLOAT)))
    return lambda x, *_: x.to(dtype)


def _b_concat(spec: _Spec) -> Fn:
    torch = _torch()
    axis = spec.axis(int(spec.attr("axis", 0)))
    return lambda *xs: torch.cat([x for x in xs if x is not None], dim=axis)


def _b_split(spec: _Spec) -> Fn:
    torch = _torch()
    axis = spec.axis(int(spec.attr("axis", 0)))
    sizes = spec.static_ints(1) if spec.opset >= 13 else list(spec.attr("split", ()) or ()) or None
    if sizes is None:
        parts = int(spec.attr("num_outputs", 0)) or len(spec.out_shapes or ()) or 2
        length = spec.shapes[0][axis]
        size = -(-length // parts)
        sizes = [size] * (length // size) + ([length % size] if length % size else [])
    return lambda x, *_: tuple(part.contiguous() for part in torch.split(x, sizes, dim=axis))


def _b_slice(spec: _Spec) -> Fn:
    shape = spec.shapes[0]
    if spec.opset < 10:
        starts, ends = list(spec.attr("starts", ())), list(spec.attr("ends", ()))
        axes = list(spec.attr("axes", ())) or list(range(len(starts)))
        steps = [1] * len(starts)
    else:
        starts, ends = spec.static_ints(1), spec.static_ints(2)
        if starts is None or ends is None:
            raise MeasureError("Slice: starts and ends must be constants")
        axes = spec.static_ints(3) if len(spec.shapes) > 3 and spec.shapes[3] is not None else None
        axes = axes or list(range(len(starts)))
        steps = spec.static_ints(4) if len(spec.shapes) > 4 and spec.shapes[4] is not None else None
        steps = steps or [1] * len(starts)
    index: list[slice] = [slice(None)] * len(shape)
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=False):
        if step <= 0:
            raise MeasureError("Slice with a negative step is not supported by the PyTorch backend")
        axis %= len(shape)
        size = shape[axis]
        start = min(max(start + size if start < 0 else start, 0), size)
        end = min(max(end + size if end < 0 else end, 0), size)
        index[axis] = slice(start, end, step)
    key = tuple(index)
    return lambda x, *_: x[key].contiguous()


def _b_transpose(spec: _Spec) -> Fn:
    perm = list(spec.attr("perm", ()) or reversed(range(spec.rank())))
    # Materialised, as ONNX Runtime does: the copy is counted at the node that causes it.
    return lambda x: x.permute(perm).contiguous()


def _b_reshape(spec: _Spec) -> Fn:
    target = spec.static_ints(1) if spec.opset >= 5 else list(spec.attr("shape", ()))
    if target is None:
        raise MeasureError("Reshape: the target shape must be a constant")
    shape = spec.shapes[0]
    if not int(spec.attr("allowzero", 0)):
        target = [shape[i] if d == 0 and i < len(shape) else d for i, d in enumerate(target)]
    return lambda x, *_: x.reshape(target)


def _b_flatten(spec: _Spec) -> Fn:
    shape = spec.shapes[0]
    axis = int(spec.attr("axis", 1)) % (len(shape) + 1) if shape else 1
    outer = math.prod(shape[:axis])
    return lambda x: x.reshape(outer, -1)


def _axes_argument(spec: _Spec, attr_until: int) -> list[int] | None:
    """Axes given as an attribute (opsets before `attr_until`) or as constant input 1."""
    if spec.opset < attr_until:
        axes = spec.attr("axes")
        return None if axes is None else [int(a) for a in axes]
    return spec.static_ints(1) if len(spec.shapes) > 1 and spec.shapes[1] is not None else None


def _b_squeeze(spec: _Spec) -> Fn:
    axes = _axes_argument(spec, 13)
    if axes is None:
        return lambda x, *_: x.squeeze()
    dims = tuple(a % spec.rank() for a in axes)
    return lambda x, *_: x.squeeze(dims)


def _b_unsqueeze(spec: _Spec) -> Fn:
    axes = _axes_argument(spec, 13) or []
    rank = spec.rank() + len(axes)
    dims = sorted(a % rank for a in axes)

    def run(x, *_):
        for dim in dims:
            x = x.unsqueeze(dim)
        return x
    return run


def _b_identity(spec: _Spec) -> Fn:
    return lambda x, *_: x


def _b_expand(spec: _Spec) -> Fn:
    torch = _torch()
    target = spec.static_ints(1)
    if target is None:
        raise MeasureError("Expand: the target shape must be a constant")
    shape = tuple(torch.broadcast_shapes(tuple(spec.shapes[0]), tuple(target)))
    return lambda x, *_: x.expand(shape).contiguous()


def _b_tile(spec: _Spec) -> Fn:
    repeats = spec.static_ints(1)
    if repeats is None:
        raise MeasureError("Tile: repeats must be a constant")
    return lambda x, *_: x.repeat(repeats)


def _b_pad(spec: _Spec) -> Fn:
    functional = _functional()
    pads = spec.static_ints(1) if spec.opset >= 11 else list(spec.attr("pads", ()))
    if pads is None:
        raise MeasureError("Pad: pads must be a constant")
    rank = spec.rank()
    axes = spec.static_ints(3) if len(spec.shapes) > 3 and spec.shapes[3] is not None else list(range(rank))
    value = spec.static_float(2) if spec.opset >= 11 else float(spec.attr("value", 0.0))
    mode = {"constant": "constant", "reflect": "reflect", "edge": "replicate", "wrap": "circular"}[
        str(spec.attr("mode", "constant"))]
    full = [0] * (2 * rank)
    count = len(axes)
    for i, axis in enumerate(axes):
        full[axis % rank] = pads[i]
        full[rank + axis % rank] = pads[count + i]
    torch_pad: list[int] = []
    for axis in reversed(range(rank)):
        torch_pad += [full[axis], full[rank + axis]]
    while len(torch_pad) > 2 and torch_pad[-2:] == [0, 0]:
        torch_pad = torch_pad[:-2]
    if mode == "constant":
        fill = value or 0.0
        return lambda x, *_: functional.pad(x, torch_pad, mode="constant", value=fill)
    return lambda x, *_: functional.pad(x, torch_pad, mode=mode)


def _b_batch_norm(spec: _Spec) -> Fn:
    functional = _functional()
    eps = float(spec.attr("epsilon", 1e-5))
    return lambda x, scale, bias, mean, var, *_: functional.batch_norm(x, mean, var, scale, bias, False, 0.0, eps)


def _b_instance_norm(spec: _Spec) -> Fn:
    functional = _functional()
    eps = float(spec.attr("epsilon", 1e-5))
    return lambda x, scale, bias: functional.instance_norm(x, weight=scale, bias=bias, eps=eps)


def _b_layer_norm(spec: _Spec) -> Fn:
    functional = _functional()
    shape = spec.shapes[0]
    axis = int(spec.attr("axis", -1)) % len(shape)
    eps = float(spec.attr("epsilon", 1e-5))
    normalized = tuple(shape[axis:])
    scale_shape = spec.shapes[1] if len(spec.shapes) > 1 else None
    bias_shape = spec.shapes[2] if len(spec.shapes) > 2 else None
    if tuple(scale_shape or ()) == normalized and bias_shape in (None, normalized):
        return lambda x, scale, bias=None: functional.layer_norm(x, normalized, scale, bias, eps)

    def run(x, scale, bias=None):
        y = functional.layer_norm(x, normalized, None, None, eps) * scale
        return y if bias is None else y + bias
    return run


def _b_group_norm(spec: _Spec) -> Fn:
    functional = _functional()
    groups = int(spec.attr("num_groups", 1))
    eps = float(spec.attr("epsilon", 1e-5))
    channels = spec.shapes[0][1]
    if spec.shapes[1] is not None and math.prod(spec.shapes[1]) == channels:
        return lambda x, scale, bias: functional.group_norm(x, groups, scale, bias, eps)
    view = (1, channels) + (1,) * (len(spec.shapes[0]) - 2)

    def run(x, scale, bias):
        y = functional.group_norm(x, groups, None, None, eps)
        repeat = channels // groups
        return y * scale.repeat_interleave(repeat).view(view) + bias.repeat_interleave(repeat).view(view)
    return run


def _b_lp_norm(spec: _Spec) -> Fn:
    functional = _functional()
    axis = int(spec.attr("axis", -1))
    p = float(spec.attr("p", 2))
    return lambda x: functional.normalize(x, p=p, dim=axis)


def _b_lrn(spec: _Spec) -> Fn:
    functional = _functional()
    size = int(spec.attr("size"))
    alpha, beta, bias = float(spec.attr("alpha", 1e-4)), float(spec.attr("beta", 0.75)), float(spec.attr("bias", 1.0))
    return lambda x: functional.local_response_norm(x, size, alpha, beta, bias)


def _b_softmax(spec: _Spec) -> Fn:
    torch = _torch()
    fn = {"Softmax": torch.softmax, "LogSoftmax": torch.log_softmax}[spec.op_type]
    shape = spec.shapes[0]
    if spec.opset >= 13:
        axis = int(spec.attr("axis", -1)) % len(shape)
        return lambda x: fn(x, axis)
    axis = int(spec.attr("axis", 1)) % len(shape)  # before opset 13: coerced to 2-D at axis
    outer = math.prod(shape[:axis])
    return lambda x: fn(x.reshape(outer, -1), 1).reshape(shape)


def _b_reduce(spec: _Spec) -> Fn:
    torch = _torch()
    attr_until = 13 if spec.op_type == "ReduceSum" else 18
    axes = _axes_argument(spec, attr_until)
    keep = bool(int(spec.attr("keepdims", 1)))
    rank = spec.rank()
    if not axes:
        if int(spec.attr("noop_with_empty_axes", 0)):
            return lambda x, *_: x
        axes = list(range(rank))
    dims = tuple(sorted(a % rank for a in axes))
    op = spec.op_type
    if op == "ReduceMean":
        return lambda x, *_: torch.mean(x, dim=dims, keepdim=keep)
    if op == "ReduceMax":
        return lambda x, *_: torch.amax(x, dim=dims, keepdim=keep)
    if op == "ReduceMin":
        return lambda x, *_: torch.amin(x, dim=dims, keepdim=keep)
    if op == "ReduceSum":
        return lambda x, *_: torch.sum(x, dim=dims, keepdim=keep)
    if op == "ReduceSumSquare":
        return lambda x, *_: torch.sum(x * x, dim=dims, keepdim=keep)
    if op in ("ReduceL1", "ReduceL2"):
        order = 1 if op == "ReduceL1" else 2
        return lambda x, *_: torch.linalg.vector_norm(x, order, dim=dims, keepdim=keep)
    if op == "ReduceLogSumExp":
        return lambda x, *_: torch.logsumexp(x, dim=dims, keepdim=keep)
    if op == "ReduceProd":
        def run(x, *_):
            for dim in reversed(dims):
                x = torch.prod(x, dim=dim, keepdim=keep)
            return x
        return run
    raise MeasureError(f"{op} is not supported by the PyTorch backend")


def _b_arg(spec: _Spec) -> Fn:
    torch = _torch()
    fn = torch.argmax if spec.op_type == "ArgMax" else torch.argmin
    axis = spec.axis(int(spec.attr("axis", 0)))
    keep = bool(int(spec.attr("keepdims", 1)))
    return lambda x: fn(x, dim=axis, keepdim=keep)


def _b_matmul(spec: _Spec) -> Fn:
    return _torch().matmul


def _b_gemm(spec: _Spec) -> Fn:
    functional, torch = _functional(), _torch()
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


def _b_einsum(spec: _Spec) -> Fn:
    torch = _torch()
    equation = str(spec.attr("equation"))
    return lambda *xs: torch.einsum(equation, *xs)


def _b_gather(spec: _Spec) -> Fn:
    torch = _torch()
    shape = spec.shapes[0]
    axis = int(spec.attr("axis", 0)) % len(shape)
    index_shape = tuple(spec.shapes[1] or ())
    out_shape = (*shape[:axis], *index_shape, *shape[axis + 1:])
    return lambda x, index: torch.index_select(x, axis, index.reshape(-1).long()).reshape(out_shape)


def _b_gather_elements(spec: _Spec) -> Fn:
    torch = _torch()
    axis = spec.axis(int(spec.attr("axis", 0)))
    return lambda x, index: torch.gather(x, axis, index.long())


def _b_topk(spec: _Spec) -> Fn:
    torch = _torch()
    k = spec.static_ints(1)[0] if spec.opset >= 10 else int(spec.attr("k"))
    axis = spec.axis(int(spec.attr("axis", -1)))
    largest, ordered = bool(int(spec.attr("largest", 1))), bool(int(spec.attr("sorted", 1)))
    return lambda x, *_: tuple(torch.topk(x, k, dim=axis, largest=largest, sorted=ordered))


def _b_cumsum(spec: _Spec) -> Fn:
    torch = _torch()
    axis_values = spec.static_ints(1)
    if axis_values is None:
        raise MeasureError("CumSum: the axis must be a constant")
    axis = spec.axis(axis_values[0])
    return lambda x, *_: torch.cumsum(x, dim=axis)


def _b_resize(spec: _Spec) -> Fn:
    functional = _functional()
    shape = spec.shapes[0]
    size: list[int] | None = None
    if spec.out_shapes:
        size = list(spec.out_shapes[0][2:])
    elif spec.op_type == "Resize" and len(spec.shapes) > 3 and spec.static.get(3) is not None:
        size = spec.static_ints(3)[2:]
    else:
        position = 2 if spec.op_type == "Resize" else 1
        scales = spec.static.get(position)
        if scales is None and spec.op_type == "Upsample":
            scales = np.asarray(spec.attr("scales", ()), dtype=float)
        if scales is None or np.asarray(scales).size == 0:
            raise MeasureError(f"{spec.op_type}: scales or sizes must be constants")
        size = [math.floor(d * s) for d, s in zip(shape[2:], np.asarray(scales).reshape(-1)[2:], strict=False)]
    mode = str(spec.attr("mode", "nearest"))
    align = str(spec.attr("coordinate_transformation_mode", "half_pixel")) == "align_corners"
    spatial = len(shape) - 2
    if mode == "nearest":
        return lambda x, *_: functional.interpolate(x, size=size, mode="nearest")
    torch_mode = {"linear": {1: "linear", 2: "bilinear", 3: "trilinear"}.get(spatial), "cubic": "bicubic"}.get(mode)
    if torch_mode is None:
        raise MeasureError(f"{spec.op_type} mode {mode!r} on {spatial}-D input is not supported by the PyTorch backend")
    return lambda x, *_: functional.interpolate(x, size=size, mode=torch_mode, align_corners=align)


def _b_depth_to_space(spec: _Spec) -> Fn:
    block = int(spec.attr("blocksize"))
    if spec.op_type == "SpaceToDepth":
        fn = _functional().pixel_unshuffle
        return lambda x: fn(x, block)
    if str(spec.attr("mode", "DCR")) == "CRD":
        fn = _functional().pixel_shuffle
        return lambda x: fn(x, block)
    n, c, h, w = spec.shapes[0]
    return lambda x: (x.reshape(n, block, block, c // block**2, h, w).permute(0, 3, 4, 1, 5, 2)
                      .reshape(n, c // block**2, h * block, w * block))


def _b_conv(spec: _Spec) -> Fn:
    functional = _functional()
    x_shape, w_shape = spec.shapes[0], spec.shapes[1]
    rank = len(x_shape) - 2
    kernel = list(spec.attr("kernel_shape", ()) or w_shape[2:])
    strides = list(spec.attr("strides", ()) or [1] * rank)
    dilations = list(spec.attr("dilations", ()) or [1] * rank)
    groups = int(spec.attr("group", 1))
    begins, ends = _window_pads(spec, x_shape[2:], kernel, strides, dilations)
    conv = {1: functional.conv1d, 2: functional.conv2d, 3: functional.conv3d}.get(rank)
    if conv is None:
        raise MeasureError(f"Conv over {rank} spatial axes is not supported by the PyTorch backend")
    if begins == ends:
        return lambda x, w, b=None: conv(x, w, b, strides, begins, dilations, groups)
    pad = _torch_pad(begins, ends)
    return lambda x, w, b=None: conv(functional.pad(x, pad), w, b, strides, 0, dilations, groups)


def _b_pool(spec: _Spec) -> Fn:
    functional = _functional()
    x_shape = spec.shapes[0]
    rank = len(x_shape) - 2
    spatial = list(x_shape[2:])
    kind = "max" if spec.op_type == "MaxPool" else "avg"
    kernel = list(spec.attr("kernel_shape"))
    strides = list(spec.attr("strides", ()) or [1] * rank)
    dilations = list(spec.attr("dilations", ()) or [1] * rank)
    ceil_mode = bool(int(spec.attr("ceil_mode", 0)))
    include_pad = bool(int(spec.attr("count_include_pad", 0)))
    begins, ends = _window_pads(spec, spatial, kernel, strides, dilations)
    effective = [(k - 1) * d + 1 for k, d in zip(kernel, dilations, strict=True)]
    targets = []
    for size, b, e, eff, s in zip(spatial, begins, ends, effective, strides, strict=True):
        padded = size + b + e
        if str(spec.attr("auto_pad", "NOTSET")) in ("SAME_UPPER", "SAME_LOWER"):
            out = -(-size // s)
        elif ceil_mode:
            out = math.ceil((padded - eff) / s) + 1
            if (out - 1) * s >= size + b:
                out -= 1
        else:
            out = (padded - eff) // s + 1
        targets.append(out)
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


def _b_global_pool(spec: _Spec) -> Fn:
    torch, functional = _torch(), _functional()
    rank = spec.rank()
    dims = tuple(range(2, rank))
    if spec.op_type == "GlobalAveragePool":
        if rank == 4:
            return lambda x: functional.adaptive_avg_pool2d(x, 1)
        return lambda x: torch.mean(x, dim=dims, keepdim=True)
    if rank == 4:
        return lambda x: functional.adaptive_max_pool2d(x, 1)
    return lambda x: torch.amax(x, dim=dims, keepdim=True)


def _window_pads(spec: _Spec, spatial: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                 dilations: Sequence[int]) -> tuple[list[int], list[int]]:
    rank = len(spatial)
    auto_pad = str(spec.attr("auto_pad", "NOTSET") or "NOTSET")
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        begins, ends = [], []
        for size, k, s, d in zip(spatial, kernel, strides, dilations, strict=True):
            total = max(0, (-(-size // s) - 1) * s + (k - 1) * d + 1 - size)
            small, large = total // 2, total - total // 2
            begin, end = (small, large) if auto_pad == "SAME_UPPER" else (large, small)
            begins.append(begin)
            ends.append(end)
        return begins, ends
    if auto_pad == "VALID":
        return [0] * rank, [0] * rank
    pads = list(spec.attr("pads", ()) or [0] * (2 * rank))
    return pads[:rank], pads[rank:]


def _torch_pad(begins: Sequence[int], ends: Sequence[int]) -> list[int]:
    """ONNX begin/end pads per axis -> F.pad's (last axis first) list."""
    pad: list[int] = []
    for begin, end in zip(reversed(begins), reversed(ends), strict=True):
        pad += [begin, end]
    return pad


_BUILDERS: dict[str, Builder] = {
    # activations and elementwise math
    "Relu": _unary("relu"), "Sigmoid": _unary("sigmoid"), "Tanh": _unary("tanh"), "Erf": _unary("erf"),
    "Exp": _unary("exp"), "Log": _unary("log"), "Sqrt": _unary("sqrt"), "Abs": _unary("abs"), "Neg": _unary("neg"),
    "Reciprocal": _unary("reciprocal"), "Floor": _unary("floor"), "Ceil": _unary("ceil"), "Round": _unary("round"),
    "Sign": _unary("sign"), "Sin": _unary("sin"), "Cos": _unary("cos"), "Not": _unary("logical_not"),
    "IsNaN": _unary("isnan"), "HardSwish": _functional_unary("hardswish"), "Softplus": _functional_unary("softplus"),
    "Softsign": _functional_unary("softsign"), "Mish": _functional_unary("mish"), "HardSigmoid": _b_hardsigmoid,
    "LeakyRelu": _b_leaky_relu, "Elu": _b_elu, "Celu": _b_elu, "Selu": _b_selu, "ThresholdedRelu": _b_thresholded_relu,
    "Gelu": _b_gelu, "PRelu": _b_prelu, "Clip": _b_clip,
    # binary and variadic
    "Add": _binary(operator.add), "Sub": _binary(operator.sub), "Mul": _binary(operator.mul),
    "Div": _binary(operator.truediv), "Pow": _binary(operator.pow), "Mod": _b_mod,
    "Max": _variadic("Max"), "Min": _variadic("Min"), "Sum": _variadic("Sum"), "Mean": _variadic("Mean"),
    "Equal": _compare("eq"), "Greater": _compare("gt"), "Less": _compare("lt"), "GreaterOrEqual": _compare("ge"),
    "LessOrEqual": _compare("le"), "And": _compare("logical_and"), "Or": _compare("logical_or"),
    "Xor": _compare("logical_xor"), "Where": _b_where, "Cast": _b_cast,
    # data movement
    "Concat": _b_concat, "Split": _b_split, "Slice": _b_slice, "Transpose": _b_transpose, "Reshape": _b_reshape,
    "Flatten": _b_flatten, "Squeeze": _b_squeeze, "Unsqueeze": _b_unsqueeze, "Identity": _b_identity,
    "Dropout": _b_identity, "Expand": _b_expand, "Tile": _b_tile, "Pad": _b_pad, "Gather": _b_gather,
    "GatherElements": _b_gather_elements, "Resize": _b_resize, "Upsample": _b_resize,
    "DepthToSpace": _b_depth_to_space, "SpaceToDepth": _b_depth_to_space,
    # normalisation and reductions
    "BatchNormalization": _b_batch_norm, "InstanceNormalization": _b_instance_norm,
    "LayerNormalization": _b_layer_norm, "GroupNormalization": _b_group_norm, "LpNormalization": _b_lp_norm,
    "LRN": _b_lrn, "Softmax": _b_softmax, "LogSoftmax": _b_softmax, "ReduceMean": _b_reduce, "ReduceMax": _b_reduce,
    "ReduceMin": _b_reduce, "ReduceSum": _b_reduce, "ReduceSumSquare": _b_reduce, "ReduceL1": _b_reduce,
    "ReduceL2": _b_reduce, "ReduceLogSumExp": _b_reduce, "ReduceProd": _b_reduce, "ArgMax": _b_arg, "ArgMin": _b_arg,
    "TopK": _b_topk, "CumSum": _b_cumsum,
    # linear algebra, convolution and pooling (whole-model graphs reach these by op type)
    "MatMul": _b_matmul, "Gemm": _b_gemm, "Einsum": _b_einsum, "Conv": _b_conv, "MaxPool": _b_pool,
    "AveragePool": _b_pool, "GlobalAveragePool": _b_global_pool, "GlobalMaxPool": _b_global_pool,
}

SUPPORTED_OTHER_OPS: frozenset[str] = frozenset(_BUILDERS)

# Positions > 0 of these ops are model parameters (random weights), not activations.
_PARAMETER_INPUTS = frozenset({"BatchNormalization", "LayerNormalization", "InstanceNormalization",
                               "GroupNormalization", "PRelu"})


def _build(spec: _Spec) -> Fn:
    builder = _BUILDERS.get(spec.op_type)
    if builder is None:
        raise MeasureError(f"op {spec.op_type} is not supported by the PyTorch backend "
                           "(no torch equivalent in its table)")
    try:
        return builder(spec)
    except MeasureError:
        raise
    except (KeyError, IndexError, TypeError, ValueError) as error:
        raise MeasureError(f"{spec.op_type}: cannot build the torch call ({type(error).__name__}: {error})") from None


def _np_dtype(name: str) -> np.dtype:
    try:
        return np.dtype(name)
    except TypeError:
        return np.dtype(np.float32)  # bfloat16 and other types numpy lacks: values only


def _onnx_torch_dtype(elem_type: int) -> Any:
    torch = _torch()
    name = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type)).name
    return getattr(torch, "bool" if name == "bool" else name)


# ----------------------------------------------------------------------------- aligned windows


class CounterAlignedSensor(PowerSensor):
    """An energy-counter sensor whose windows start and end on counter updates.

    The backend calls ``arm()`` when it is ready to start (or stop) its loop and keeps running
    the workload until ``crossed()`` reports that the counter changed; the window's energy is the
    difference of the two updated values over the time between the two updates. Without two
    updates (a timeout, or a caller that never arms), ``end()`` returns the wrapped sensor's own
    reading, and the window counts as unaligned.
    """

    def __init__(self, inner: PowerSensor, read_counter: Callable[[], float] | None = None,
                 poll_s: float = 0.0005, timeout_s: float = 0.5) -> None:
        """Wrap `inner`; read_counter returns its energy counter in mJ (default: NVML's counter)."""
        read = read_counter
        if read is None and isinstance(inner, NvmlSensor) and inner.has_energy_counter:
            read = inner._read_counter
        if read is None:
            raise SensorError(f"{inner.name} sensor has no NVML-style energy counter (mJ) to align windows to")
        self.inner = inner
        self.name = inner.name
        self._read = read
        self.poll_s = poll_s
        self.timeout_s = timeout_s
        self.window_open = False
        self.aligned_windows = 0
        self.unaligned_windows = 0
        self._ticks: list[tuple[float, float]] = []
        self._reference: float | None = None
        self._crossed = False
        self._last_read_t = 0.0

    def describe(self) -> dict[str, object]:
        facts = dict(self.inner.describe())
        facts["window_alignment"] = "counter-update"
        facts["alignment_poll_s"] = self.poll_s
        facts["aligned_windows"] = self.aligned_windows
        facts["unaligned_windows"] = self.unaligned_windows
        return facts

    def start(self) -> None:
        self.inner.start()

    def stop(self) -> None:
        self.inner.stop()

    def begin(self) -> object:
        self._ticks = []
        self._reference = None
        self._crossed = False
        self.window_open = True
        return self.inner.begin()

    def end(self, token: object) -> PowerReading | None:
        self.window_open = False
        fallback = self.inner.end(token)
        ticks, self._ticks = self._ticks, []
        if len(ticks) >= 2 and ticks[-1][0] > ticks[0][0] and ticks[-1][1] >= ticks[0][1]:
            energy_mj = float(ticks[-1][1] - ticks[0][1])
            duration = ticks[-1][0] - ticks[0][0]
            self.aligned_windows += 1
            return PowerReading(power_w=energy_mj / 1000.0 / duration, energy_mj=energy_mj, duration_s=duration,
                                samples=2, method="energy-counter-aligned")
        self.unaligned_windows += 1
        return fallback

    # -- the clock the backend drives --------------------------------------------------------

    def arm(self) -> None:
        """Note the counter's value now; crossed() turns true at its next change."""
        self._crossed = False
        self._reference = self._read()
        self._last_read_t = time.perf_counter()

    def crossed(self) -> bool:
        """Whether the counter changed since arm() (polled at most every poll_s; stays true until re-armed)."""
        if self._crossed:
            return True
        now = time.perf_counter()
        if self._reference is None or now - self._last_read_t < self.poll_s:
            return False
        value = self._read()
        after = time.perf_counter()
        if value == self._reference:
            self._last_read_t = after
            return False
        # The update happened between the previous read and this one: take the midpoint.
        self._ticks.append(((self._last_read_t + after) / 2.0, float(value)))
        self._reference = None
        self._crossed = True
        return True

    def wait_idle_window(self, seconds: float) -> PowerReading | None:
        """Idle power over an aligned window of at least `seconds` (this thread sleeps)."""
        token = self.begin()
        for phase in ("start", "end"):
            if phase == "end":
                time.sleep(seconds)
            self.arm()
            deadline = time.perf_counter() + self.timeout_s
            while not self.crossed() and time.perf_counter() < deadline:
                time.sleep(self.poll_s)
        return self.end(token)


# ----------------------------------------------------------------------------- the backend


class TorchBackend(Backend):
    """Runs layer records and whole models with PyTorch on a CUDA device or the CPU."""

    name = "pytorch"

    def __init__(self, settings: TorchSettings | None = None, clock: CounterAlignedSensor | None = None) -> None:
        torch = _torch()
        settings = settings or TorchSettings()
        device = settings.device or ("cuda" if torch.cuda.is_available() else "cpu")
        if settings.dtype not in _DTYPES:
            raise MeasureError(f"unknown dtype {settings.dtype!r}; use one of {', '.join(_DTYPES)}")
        if settings.queue_depth < 1:
            raise MeasureError(f"queue_depth must be at least 1, got {settings.queue_depth}")
        self.settings = dataclasses.replace(settings, device=device)
        try:
            self.device = torch.device(device)
        except RuntimeError as error:
            raise MeasureError(f"unknown torch device {device!r}: {error}") from None
        self.is_cuda = self.device.type == "cuda"
        if self.is_cuda:
            if not torch.cuda.is_available():
                raise MeasureError("torch sees no CUDA device (torch.cuda.is_available() is False); use device='cpu'")
            index = self.device.index or 0
            if index >= torch.cuda.device_count():
                raise MeasureError(f"no CUDA device {index}; torch sees {torch.cuda.device_count()}")
            self.device = torch.device("cuda", index)
            torch.cuda.set_device(self.device)
        elif self.device.type != "cpu":
            raise MeasureError(f"device {device!r} is not supported; use 'cuda' or 'cpu'")
        if self.settings.cpu_threads is not None:
            torch.set_num_threads(self.settings.cpu_threads)
        self.torch = torch
        self._apply_backend_flags(torch)
        self.dtype = getattr(torch, self.settings.dtype)
        self.clock = clock
        self.align_timeout_s = clock.timeout_s if clock is not None else 0.5
        self._events: list[Any] = []
        if self.is_cuda:
            self._event_pool(8192)
        self._generator = torch.Generator(device=self.device)
        self._generator.manual_seed(0)

    def _apply_backend_flags(self, torch: Any) -> None:
        torch.backends.cudnn.benchmark = self.settings.cudnn_benchmark
        precision = "tf32" if self.settings.allow_tf32 else "ieee"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                torch.backends.cuda.matmul.fp32_precision = precision
                torch.backends.cudnn.conv.fp32_precision = precision
            except (AttributeError, RuntimeError):  # torch before the fp32_precision API
                torch.backends.cuda.matmul.allow_tf32 = self.settings.allow_tf32
                torch.backends.cudnn.allow_tf32 = self.settings.allow_tf32

    # -- description -------------------------------------------------------------------------

    def describe(self) -> dict[str, object]:
        torch = self.torch
        facts: dict[str, object] = {
            "backend": self.name,
            "torch_version": torch.__version__,
            "cuda_version": torch.version.cuda,
            "cudnn_version": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
            "device": str(self.device),
            "settings": asdict(self.settings),
            "cpu_threads": torch.get_num_threads(),
            "timing": ("CUDA events around each call, host at most queue_depth calls ahead, synchronised at the end"
                       if self.is_cuda else "perf_counter around each call"),
            "python": platform.python_version(),
        }
        if self.is_cuda:
            props = torch.cuda.get_device_properties(self.device)
            facts["gpu_name"] = torch.cuda.get_device_name(self.device)
            facts["gpu_capability"] = f"{props.major}.{props.minor}"
            facts["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
            facts["gpu_multiprocessors"] = props.multi_processor_count
            facts["driver_version"] = _driver_version()
        return facts

    # -- tensors ------------------------------------------------------------------------------

    def _tensor(self, shape: Sequence[int], dtype: str = "float32", low: float = 0.5, high: float = 1.5) -> Any:
        torch = self.torch
        shape = tuple(int(d) for d in shape)
        kind = _np_dtype(dtype).kind
        if kind == "f":
            values = torch.rand(shape, generator=self._generator, device=self.device, dtype=self.dtype)
            return values.mul_(high - low).add_(low)
        if kind == "b":
            return torch.rand(shape, generator=self._generator, device=self.device) > 0.5
        return torch.zeros(shape, dtype=getattr(torch, _np_dtype(dtype).name), device=self.device)

    def _weight(self, shape: Sequence[int]) -> Any:
        """Symmetric values scaled by fan-in (activations stay finite through deep graphs)."""
        fan_in = max(1, math.prod(shape[1:]))
        bound = math.sqrt(3.0 / fan_in)
        return self._tensor(shape, low=-bound, high=bound)

    def _constant(self, values: Sequence[float] | np.ndarray, shape: Sequence[int], dtype: str) -> Any:
        torch = self.torch
        array = np.asarray(values, dtype=_np_dtype(dtype)).reshape(shape)
        tensor = torch.from_numpy(np.array(array, copy=True, order="C")).to(self.device)
        return tensor.to(self.dtype) if tensor.is_floating_point() else tensor

    # -- runners ------------------------------------------------------------------------------

    def layer_runner(self, layer: Layer, opset: int) -> Callable[[], object]:
        """A call that runs this record's configuration once (random data, built on the device)."""
        with self.torch.inference_mode():
            try:
                if isinstance(layer, ConvLayer):
                    return self._conv_runner(layer)
                if isinstance(layer, PoolLayer):
                    return self._pool_runner(layer)
                if isinstance(layer, DenseLayer):
                    return self._dense_runner(layer)
                if isinstance(layer, OtherLayer):
                    return self._other_runner(layer, opset)
            except self.torch.cuda.OutOfMemoryError as error:
                raise MeasureError(f"{layer.op_type} {layer.name!r}: out of device memory ({error})") from None
            except RuntimeError as error:
                raise MeasureError(f"{layer.op_type} {layer.name!r}: torch cannot build it: "
                                   f"{str(error).splitlines()[0]}") from None
        raise MeasureError(f"not a layer record: {layer!r}")

    def _conv_runner(self, layer: ConvLayer) -> Callable[[], object]:
        channels, height, width = layer.input_chw
        out_channels = layer.output_chw[0]
        x_shape = (layer.batch_size, channels, height, width)
        w_shape = (out_channels, channels // layer.groups, *layer.kernel)
        attrs = {"kernel_shape": layer.kernel, "strides": layer.stride, "dilations": layer.dilation,
                 "pads": layer.pads, "group": layer.groups}
        fn = _build(_Spec("Conv", attrs, [x_shape, w_shape], {}, 17))
        x, w = self._tensor(x_shape), self._weight(w_shape)
        b = self._tensor((out_channels,)) if layer.has_bias else None
        return lambda: fn(x, w, b)

    def _pool_runner(self, layer: PoolLayer) -> Callable[[], object]:
        torch = self.torch
        x = self._tensor((layer.batch_size, *layer.input_chw))
        if layer.op_type in ("ReduceMean", "ReduceMax"):
            reduce_fn = torch.mean if layer.op_type == "ReduceMean" else torch.amax
            return lambda: reduce_fn(x, dim=(2, 3), keepdim=True)
        if layer.is_global:
            op_type = "GlobalMaxPool" if layer.pool_kind == "max" else "GlobalAveragePool"
            fn = _build(_Spec(op_type, {}, [tuple(x.shape)], {}, 17))
            return lambda: fn(x)
        attrs = {"kernel_shape": layer.kernel, "strides": layer.stride, "pads": layer.pads,
                 "dilations": layer.dilation, "ceil_mode": int(layer.ceil_mode),
                 "count_include_pad": int(layer.count_include_pad)}
        fn = _build(_Spec("MaxPool" if layer.pool_kind == "max" else "AveragePool", attrs, [tuple(x.shape)], {}, 17))
        return lambda: fn(x)

    def _dense_runner(self, layer: DenseLayer) -> Callable[[], object]:
        functional = _functional()
        x = self._tensor(layer.input_shape)
        w = self._weight((layer.out_features, layer.in_features))
        b = self._tensor((layer.out_features,)) if layer.has_bias else None
        shape = tuple(layer.input_shape)
        if shape[-1] == layer.in_features and math.prod(shape[:-1]) == layer.rows:
            return lambda: functional.linear(x, w, b)
        if len(shape) == 2 and shape == (layer.in_features, layer.rows):  # Gemm with transA
            return lambda: functional.linear(x.t(), w, b)
        raise MeasureError(f"dense layer {layer.name!r}: input {shape} does not hold {layer.rows} rows of "
                           f"{layer.in_features} features")

    def _other_runner(self, layer: OtherLayer, opset: int) -> Callable[[], object]:
        if layer.op_type not in _BUILDERS:
            raise MeasureError(f"op {layer.op_type} is not supported by the PyTorch backend "
                               f"(layer {layer.name!r}); supported: {len(_BUILDERS)} op types")
        constants = dict(layer.constant_inputs)
        static: dict[int, np.ndarray] = {}
        inputs: list[Any] = []
        for position, (shape, dtype) in enumerate(zip(layer.input_shapes, layer.input_dtypes, strict=False)):
            if shape is None:
                inputs.append(None)
            elif position in constants:
                static[position] = np.asarray(constants[position], dtype=_np_dtype(dtype)).reshape(shape)
                inputs.append(self._constant(constants[position], shape, dtype))
            else:
                inputs.append(self._tensor(shape, dtype))
        while inputs and inputs[-1] is None:
            inputs.pop()
        spec = _Spec(layer.op_type, dict(layer.attributes), list(layer.input_shapes), static, opset,
                     list(layer.output_shapes))
        fn = _build(spec)
        return lambda: fn(*inputs)

    def model_runner(self, model: onnx.ModelProto, input_shapes: dict[str, tuple[int, ...]]) -> Callable[[], object]:
        """A call that runs the whole ONNX graph in torch, node by node, with random weights."""
        with self.torch.inference_mode():
            try:
                return _GraphProgram(self, model, input_shapes).runner()
            except self.torch.cuda.OutOfMemoryError as error:
                raise MeasureError(f"{model.graph.name!r}: out of device memory ({error})") from None
            except RuntimeError as error:
                raise MeasureError(f"{model.graph.name!r}: torch cannot run the graph: "
                                   f"{str(error).splitlines()[0]}") from None

    def torch_model_runner(self, module: Any, input_shape: Sequence[int], batch_size: int | None = None
                           ) -> Callable[[], object]:
        """A call that runs an nn.Module (e.g. a torchvision model) on a random batch."""
        shape = list(input_shape)
        if batch_size is not None:
            shape[0] = batch_size
        with self.torch.inference_mode():
            module = module.to(device=self.device, dtype=self.dtype).eval()
            x = self._tensor(shape)
        return lambda: module(x)

    def overhead_runner(self) -> Callable[[], object]:
        """A ReLU on one element: what one call costs with next to no work."""
        with self.torch.inference_mode():
            x = self._tensor((1,))
        relu = self.torch.relu
        return lambda: relu(x)

    # -- timing -------------------------------------------------------------------------------

    def time_calls(self, run: Callable[[], object], policy: LoopPolicy) -> tuple[np.ndarray, float]:
        """Per-call seconds after warm-up, and the loop's total wall seconds (see module docstring)."""
        clock = self.clock if self.clock is not None and self.clock.window_open else None
        try:
            with self.torch.inference_mode():
                if self.is_cuda:
                    return self._time_cuda(run, policy, clock)
                if clock is None:
                    return time_calls(run, policy)
                return self._time_cpu(run, policy, clock)
        except self.torch.cuda.OutOfMemoryError as error:
            raise MeasureError(f"out of device memory while running: {error}") from None
        except RuntimeError as error:
            raise MeasureError(f"torch failed while running: {str(error).splitlines()[0]}") from None

    def _warm_up(self, run: Callable[[], object], policy: LoopPolicy) -> None:
        synchronize = self.torch.cuda.synchronize if self.is_cuda else (lambda: None)
        start = time.perf_counter()
        done = 0
        while done < policy.warmup_iterations or time.perf_counter() - start < policy.warmup_s:
            run()
            synchronize()
            done += 1

    def _event_pool(self, count: int) -> list[Any]:
        while len(self._events) < count:
            self._events.extend(self.torch.cuda.Event(enable_timing=True) for _ in range(1024))
        return self._events

    def _time_cuda(self, run: Callable[[], object], policy: LoopPolicy, clock: CounterAlignedSensor | None
                   ) -> tuple[np.ndarray, float]:
        torch = self.torch
        depth = self.settings.queue_depth
        if clock is None:
            self._warm_up(run, policy)
        else:
            # Keep the device busy until the counter updates, at least warmup_s after the first calls:
            # waiting for the update is the warm-up, and the window starts at the update.
            self._warm_up(run, dataclasses.replace(policy, warmup_s=0.0))
            start = time.perf_counter()
            give_up = start + policy.warmup_s + self.align_timeout_s
            clock.arm()
            pending: list[Any] = []
            events = self._event_pool(depth + 1)
            i = 0
            while time.perf_counter() < give_up:
                run()
                event = events[i % (depth + 1)]
                event.record()
                pending.append(event)
                if len(pending) > depth:
                    self._wait(pending.pop(0), clock)
                i += 1
                if clock.crossed():
                    if time.perf_counter() - start >= policy.warmup_s:
                        break
                    clock.arm()  # too early: the next update starts the window
        events = self._event_pool(2 * max(policy.min_iterations, 64))
        count = 0
        armed_at: float | None = None
        loop_start = time.perf_counter()
        while True:
            if 2 * count + 2 > len(events):
                events = self._event_pool(2 * count + 2)
            begin, end = events[2 * count], events[2 * count + 1]
            begin.record()
            run()
            end.record()
            count += 1
            if count > depth:
                self._wait(events[2 * (count - depth) - 1], clock if armed_at is not None else None)
            now = time.perf_counter()
            enough = count >= policy.min_iterations and now - loop_start >= policy.min_time_s
            if enough or count >= policy.max_iterations:  # waiting for the counter may exceed max_iterations
                if clock is None:
                    break
                if armed_at is None:
                    clock.arm()
                    armed_at = now
                elif clock.crossed() or now - armed_at > self.align_timeout_s:
                    break
        torch.cuda.synchronize()
        loop_seconds = time.perf_counter() - loop_start
        times = np.fromiter((events[2 * i].elapsed_time(events[2 * i + 1]) for i in range(count)),
                            dtype=np.float64, count=count) / 1e3
        return times, loop_seconds

    def _wait(self, event: Any, clock: CounterAlignedSensor | None) -> None:
        """Wait for a recorded event; while waiting, keep polling the clock so updates are seen at once."""
        if clock is None:
            event.synchronize()
            return
        while not event.query():
            clock.crossed()

    def _time_cpu(self, run: Callable[[], object], policy: LoopPolicy, clock: CounterAlignedSensor
                  ) -> tuple[np.ndarray, float]:
        self._warm_up(run, dataclasses.replace(policy, warmup_s=0.0))
        start = time.perf_counter()
        give_up = start + policy.warmup_s + self.align_timeout_s
        clock.arm()
        while time.perf_counter() < give_up:
            run()
            if clock.crossed():
                if time.perf_counter() - start >= policy.warmup_s:
                    break
                clock.arm()
        samples: list[float] = []
        armed_at: float | None = None
        loop_start = now = time.perf_counter()
        while True:
            before = time.perf_counter()
            run()
            now = time.perf_counter()
            samples.append(now - before)
            enough = len(samples) >= policy.min_iterations and now - loop_start >= policy.min_time_s
            if enough or len(samples) >= policy.max_iterations:
                if armed_at is None:
                    clock.arm()
                    armed_at = now
                elif clock.crossed() or now - armed_at > self.align_timeout_s:
                    break
        return np.asarray(samples), now - loop_start


def _driver_version() -> str | None:
    """The NVIDIA driver version through NVML, when nvidia-ml-py is installed."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
        try:
            version = pynvml.nvmlSystemGetDriverVersion()
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # any NVML failure only loses this fact
        return None
    return version.decode() if isinstance(version, bytes) else str(version)


# ----------------------------------------------------------------------------- whole graphs


class _GraphProgram:
    """An ONNX graph as a list of torch calls: constants folded at build time, dead values freed."""

    def __init__(self, backend: TorchBackend, model: onnx.ModelProto, input_shapes: dict[str, tuple[int, ...]]) -> None:
        self.backend = backend
        self.label = model.graph.name or "model"
        opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 17)
        static: dict[str, Any] = {}
        for tensor in model.graph.initializer:
            static[tensor.name] = self._initializer(tensor)
        values: dict[str, Any] = dict(static)
        self.inputs: dict[str, Any] = {}
        for value in model.graph.input:
            if value.name in static:
                continue
            dims = value.type.tensor_type.shape.dim
            shape = input_shapes.get(value.name) or tuple(int(d.dim_value) for d in dims)
            if any(d <= 0 for d in shape):
                raise MeasureError(f"{self.label}: input {value.name!r} needs a concrete shape, got {shape}")
            elem = value.type.tensor_type.elem_type
            dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem)).name
            tensor = backend._tensor(shape, dtype, low=-1.0, high=1.0)
            self.inputs[value.name] = tensor
            values[value.name] = tensor
        self.steps: list[tuple[Fn, list[str], list[str]]] = []
        for node in model.graph.node:
            if node.domain not in ("", "ai.onnx"):
                raise MeasureError(f"{self.label}: node {node.name!r} of domain {node.domain!r} cannot run in torch")
            self._add(node, values, static, opset)
        self.outputs = [value.name for value in model.graph.output]
        self.base = {name: tensor for name, tensor in static.items()}
        self._plan_frees()

    def _initializer(self, tensor: onnx.TensorProto) -> Any:
        backend = self.backend
        dims = tuple(tensor.dims)
        count = math.prod(dims) if dims else 1
        dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type)).name
        if _has_payload(tensor, count):
            return backend._constant(onnx.numpy_helper.to_array(tensor), dims, dtype)
        if np.dtype(dtype).kind == "f":
            return backend._weight(dims) if len(dims) >= 2 else backend._tensor(dims)
        return backend._tensor(dims, dtype)

    def _add(self, node: onnx.NodeProto, values: dict[str, Any], static: dict[str, Any], opset: int) -> None:
        attrs = {a.name: _attribute(a) for a in node.attribute}
        op = node.op_type
        outputs = [name for name in node.output]
        if op == "Constant":
            tensor = self._constant_node(attrs)
            values[outputs[0]] = static[outputs[0]] = tensor
            return
        args = [values.get(name) if name else None for name in node.input]
        missing = [name for name, arg in zip(node.input, args, strict=True) if name and arg is None]
        if missing:
            raise MeasureError(f"{self.label}: node {node.name!r} reads undefined values {missing}")
        if op in ("Shape", "Size"):
            shape = tuple(args[0].shape)
            data = np.array(shape if op == "Shape" else math.prod(shape), dtype=np.int64)
            if op == "Shape":
                data = data[slice(attrs.get("start", 0), attrs.get("end"))]
            values[outputs[0]] = static[outputs[0]] = self.backend._constant(data, data.shape, "int64")
            return
        if op == "ConstantOfShape":
            shape = [int(v) for v in args[0].cpu().numpy().reshape(-1)]
            fill = attrs.get("value")
            array = np.full(shape, 0.0 if fill is None else fill.reshape(-1)[0],
                            dtype=np.float32 if fill is None else fill.dtype)
            values[outputs[0]] = static[outputs[0]] = self.backend._constant(array, array.shape, array.dtype.name)
            return
        if op in ("Identity", "Dropout"):
            values[outputs[0]] = args[0]
            if node.input[0] in static:
                static[outputs[0]] = args[0]
            return
        const = {i: arg.detach().cpu().numpy() for i, arg in enumerate(args)
                 if arg is not None and node.input[i] in static}
        spec = _Spec(op, attrs, [None if arg is None else tuple(arg.shape) for arg in args], const, opset)
        fn = _build(spec)
        result = fn(*args)
        results = list(result) if isinstance(result, (tuple, list)) else [result]
        folded = all(not name or name in static for name in node.input)
        for name, tensor in zip(outputs, results, strict=False):
            if not name:
                continue
            values[name] = tensor
            if folded:
                static[name] = tensor
        if not folded:
            self.steps.append((fn, list(node.input), outputs))

    def _constant_node(self, attrs: dict[str, Any]) -> Any:
        backend = self.backend
        if "value" in attrs:
            array = attrs["value"]
        elif "value_float" in attrs:
            array = np.array(attrs["value_float"], dtype=np.float32)
        elif "value_floats" in attrs:
            array = np.array(attrs["value_floats"], dtype=np.float32)
        elif "value_int" in attrs:
            array = np.array(attrs["value_int"], dtype=np.int64)
        elif "value_ints" in attrs:
            array = np.array(attrs["value_ints"], dtype=np.int64)
        else:
            raise MeasureError(f"{self.label}: Constant node with attributes {sorted(attrs)} is not supported")
        return backend._constant(array, array.shape, array.dtype.name)

    def _plan_frees(self) -> None:
        last_use: dict[str, int] = {}
        for index, (_, inputs, _) in enumerate(self.steps):
            for name in inputs:
                if name:
                    last_use[name] = index
        keep = set(self.outputs) | set(self.base) | set(self.inputs)
        self.frees: list[list[str]] = [[] for _ in self.steps]
        for name, index in last_use.items():
            if name not in keep:
                self.frees[index].append(name)

    def runner(self) -> Callable[[], object]:
        steps = [(fn, inputs, outputs, frees)
                 for (fn, inputs, outputs), frees in zip(self.steps, self.frees, strict=True)]
        base = {**self.base, **self.inputs}
        result_names = self.outputs

        def run() -> object:
            env = dict(base)
            for fn, inputs, outputs, frees in steps:
                result = fn(*[env[name] if name else None for name in inputs])
                if isinstance(result, (tuple, list)):
                    for name, tensor in zip(outputs, result, strict=False):
                        if name:
                            env[name] = tensor
                else:
                    env[outputs[0]] = result
                for name in frees:
                    del env[name]
            return [env.get(name) for name in result_names]
        return run


def _has_payload(tensor: onnx.TensorProto, count: int) -> bool:
    if tensor.data_location == onnx.TensorProto.EXTERNAL:
        return False
    if count == 0 or tensor.raw_data:
        return True
    stored = (len(tensor.float_data) + len(tensor.int32_data) + len(tensor.int64_data) + len(tensor.double_data)
              + len(tensor.uint64_data))
    return stored >= count


def _attribute(attribute: onnx.AttributeProto) -> Any:
    value = onnx.helper.get_attribute_value(attribute)
    if isinstance(value, onnx.TensorProto):
        count = math.prod(value.dims) if value.dims else 1
        if _has_payload(value, count):
            return onnx.numpy_helper.to_array(value)
        return np.ones(tuple(value.dims), dtype=onnx.helper.tensor_dtype_to_np_dtype(value.data_type))
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, list):
        return tuple(v.decode() if isinstance(v, bytes) else v for v in value)
    return value
