"""Normalisations, softmax, reductions and index reductions (ArgMax/ArgMin, TopK, CumSum)."""

from __future__ import annotations

import math

from estimator.errors import MeasureError
from estimator.measure.backends.pytorch.ops.movement import attribute_axes, input_axes
from estimator.measure.backends.pytorch.ops.registry import Fn, Spec, register
from estimator.measure.backends.pytorch.torch_import import load_torch, nn_functional

__all__: list[str] = []


@register("BatchNormalization")
def _batch_norm(spec: Spec) -> Fn:
    functional = nn_functional()
    eps = float(spec.attr("epsilon", 1e-5))
    return lambda x, scale, bias, mean, var, *_: functional.batch_norm(x, mean, var, scale, bias, False, 0.0, eps)


@register("InstanceNormalization")
def _instance_norm(spec: Spec) -> Fn:
    functional = nn_functional()
    eps = float(spec.attr("epsilon", 1e-5))
    return lambda x, scale, bias: functional.instance_norm(x, weight=scale, bias=bias, eps=eps)


@register("LayerNormalization")
def _layer_norm(spec: Spec) -> Fn:
    functional = nn_functional()
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


@register("GroupNormalization")
def _group_norm(spec: Spec) -> Fn:
    functional = nn_functional()
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


@register("LpNormalization")
def _lp_norm(spec: Spec) -> Fn:
    functional = nn_functional()
    axis = int(spec.attr("axis", -1))
    p = float(spec.attr("p", 2))
    return lambda x: functional.normalize(x, p=p, dim=axis)


@register("LRN")
def _lrn(spec: Spec) -> Fn:
    functional = nn_functional()
    size = int(spec.attr("size"))
    alpha, beta, bias = float(spec.attr("alpha", 1e-4)), float(spec.attr("beta", 0.75)), float(spec.attr("bias", 1.0))
    return lambda x: functional.local_response_norm(x, size, alpha, beta, bias)


@register(("Softmax", "LogSoftmax"))
def _softmax_2d(spec: Spec) -> Fn:
    """Softmax before opset 13: the input is coerced to 2-D at `axis` (default 1)."""
    torch = load_torch()
    fn = {"Softmax": torch.softmax, "LogSoftmax": torch.log_softmax}[spec.op_type]
    shape = spec.shapes[0]
    axis = int(spec.attr("axis", 1)) % len(shape)
    outer = math.prod(shape[:axis])
    return lambda x: fn(x.reshape(outer, -1), 1).reshape(shape)


@register(("Softmax", "LogSoftmax"), since=13)
def _softmax_axis(spec: Spec) -> Fn:
    """Softmax from opset 13: along one axis (default the last)."""
    torch = load_torch()
    fn = {"Softmax": torch.softmax, "LogSoftmax": torch.log_softmax}[spec.op_type]
    axis = int(spec.attr("axis", -1)) % len(spec.shapes[0])
    return lambda x: fn(x, axis)


def _reduce(spec: Spec, axes: list[int] | None) -> Fn:
    torch = load_torch()
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


_REDUCE_OPS = ("ReduceMean", "ReduceMax", "ReduceMin", "ReduceSum", "ReduceSumSquare", "ReduceL1", "ReduceL2",
               "ReduceLogSumExp", "ReduceProd")
register(_REDUCE_OPS)(lambda spec: _reduce(spec, attribute_axes(spec)))
# Axes became an input at opset 13 for ReduceSum and at 18 for the others.
register("ReduceSum", since=13)(lambda spec: _reduce(spec, input_axes(spec)))
register(tuple(op for op in _REDUCE_OPS if op != "ReduceSum"), since=18)(lambda spec: _reduce(spec, input_axes(spec)))


@register(("ArgMax", "ArgMin"))
def _arg(spec: Spec) -> Fn:
    torch = load_torch()
    fn = torch.argmax if spec.op_type == "ArgMax" else torch.argmin
    axis = spec.axis(int(spec.attr("axis", 0)))
    keep = bool(int(spec.attr("keepdims", 1)))
    return lambda x: fn(x, dim=axis, keepdim=keep)


def _topk(spec: Spec, k: int) -> Fn:
    torch = load_torch()
    axis = spec.axis(int(spec.attr("axis", -1)))
    largest, ordered = bool(int(spec.attr("largest", 1))), bool(int(spec.attr("sorted", 1)))
    return lambda x, *_: tuple(torch.topk(x, k, dim=axis, largest=largest, sorted=ordered))


register("TopK")(lambda spec: _topk(spec, int(spec.attr("k"))))
register("TopK", since=10)(lambda spec: _topk(spec, spec.static_ints(1)[0]))


@register("CumSum")
def _cumsum(spec: Spec) -> Fn:
    torch = load_torch()
    axis = spec.axis(spec.required_ints(1, "the axis")[0])
    return lambda x, *_: torch.cumsum(x, dim=axis)
