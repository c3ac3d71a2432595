"""Elementwise ops: activations, unary math, binary and variadic arithmetic, comparisons, Clip, Where, Cast."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from functools import reduce
from typing import Any

import numpy as np

from estimator.measure.backends.pytorch.ops.registry import Builder, Fn, Spec, register
from estimator.measure.backends.pytorch.torch_import import load_torch, nn_functional
from graph.nodes import onnx_dtype_name

__all__: list[str] = []


def _unary(name: str) -> Builder:
    def build(spec: Spec) -> Fn:
        torch = load_torch()
        fn = getattr(torch, name)
        return lambda x, *_: fn(x)
    return build


def _functional_unary(name: str, **fixed: Any) -> Builder:
    def build(spec: Spec) -> Fn:
        fn = getattr(nn_functional(), name)
        return lambda x, *_: fn(x, **fixed)
    return build


def _scalar_inputs(spec: Spec) -> dict[int, float | int]:
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
    def build(spec: Spec) -> Fn:
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
    def build(spec: Spec) -> Fn:
        torch = load_torch()
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
    def build(spec: Spec) -> Fn:
        return getattr(load_torch(), name)
    return build


for _name, _function in {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Erf": "erf", "Exp": "exp", "Log": "log",
                        "Sqrt": "sqrt", "Abs": "abs", "Neg": "neg", "Reciprocal": "reciprocal", "Floor": "floor",
                        "Ceil": "ceil", "Round": "round", "Sign": "sign", "Sin": "sin", "Cos": "cos",
                        "Not": "logical_not", "IsNaN": "isnan"}.items():
    register(_name)(_unary(_function))
for _name, _function in {"HardSwish": "hardswish", "Softplus": "softplus", "Softsign": "softsign", "Mish": "mish"}.items():
    register(_name)(_functional_unary(_function))
for _name, _operator in {"Add": operator.add, "Sub": operator.sub, "Mul": operator.mul, "Div": operator.truediv,
                         "Pow": operator.pow}.items():
    register(_name)(_binary(_operator))
for _name in ("Max", "Min", "Sum", "Mean"):
    register(_name)(_variadic(_name))
for _name, _function in {"Equal": "eq", "Greater": "gt", "Less": "lt", "GreaterOrEqual": "ge", "LessOrEqual": "le",
                         "And": "logical_and", "Or": "logical_or", "Xor": "logical_xor"}.items():
    register(_name)(_compare(_function))


@register("HardSigmoid")
def _hardsigmoid(spec: Spec) -> Fn:
    alpha, beta = float(spec.attr("alpha", 0.2)), float(spec.attr("beta", 0.5))
    if abs(alpha - 1 / 6) < 1e-6 and beta == 0.5:
        fn = nn_functional().hardsigmoid
        return lambda x, *_: fn(x)
    return lambda x, *_: (x * alpha + beta).clamp_(0.0, 1.0)


@register("LeakyRelu")
def _leaky_relu(spec: Spec) -> Fn:
    slope = float(spec.attr("alpha", 0.01))
    fn = nn_functional().leaky_relu
    return lambda x, *_: fn(x, slope)


@register(("Elu", "Celu"))
def _elu(spec: Spec) -> Fn:
    alpha = float(spec.attr("alpha", 1.0))
    fn = nn_functional().elu if spec.op_type == "Elu" else nn_functional().celu
    return lambda x, *_: fn(x, alpha)


@register("Selu")
def _selu(spec: Spec) -> Fn:
    fn = nn_functional().selu
    return lambda x, *_: fn(x)


@register("ThresholdedRelu")
def _thresholded_relu(spec: Spec) -> Fn:
    alpha = float(spec.attr("alpha", 1.0))
    fn = nn_functional().threshold
    return lambda x, *_: fn(x, alpha, 0.0)


@register("Gelu")
def _gelu(spec: Spec) -> Fn:
    approximate = str(spec.attr("approximate", "none"))
    fn = nn_functional().gelu
    return lambda x, *_: fn(x, approximate=approximate)


@register("PRelu")
def _prelu(spec: Spec) -> Fn:
    torch, functional = load_torch(), nn_functional()
    x_shape, slope_shape = spec.shapes[0], spec.shapes[1]
    channels = x_shape[1] if x_shape is not None and len(x_shape) > 1 else 1
    if slope_shape is not None and math.prod(slope_shape) in (1, channels):
        return lambda x, slope: functional.prelu(x, slope.reshape(-1))
    return lambda x, slope: torch.where(x >= 0, x, x * slope)


@register("Clip")
def _clip_attributes(spec: Spec) -> Fn:
    """Clip before opset 11: bounds are attributes."""
    torch = load_torch()
    low, high = spec.attr("min"), spec.attr("max")
    if low is None and high is None:
        return lambda x, *_: x.clone()
    return lambda x, *_: torch.clamp(x, low, high)


@register("Clip", since=11)
def _clip_inputs(spec: Spec) -> Fn:
    """Clip from opset 11: bounds are optional inputs, constant or not."""
    torch = load_torch()
    low, high = spec.static_float(1), spec.static_float(2)
    dynamic_low = low is None and len(spec.shapes) > 1 and spec.shapes[1] is not None
    dynamic_high = high is None and len(spec.shapes) > 2 and spec.shapes[2] is not None
    if dynamic_low or dynamic_high:
        return lambda x, a=None, b=None: torch.clamp(x, a if dynamic_low else low, b if dynamic_high else high)
    if low is None and high is None:
        return lambda x, *_: x.clone()
    return lambda x, *_: torch.clamp(x, low, high)


@register("Mod")
def _mod(spec: Spec) -> Fn:
    torch = load_torch()
    return torch.fmod if int(spec.attr("fmod", 0)) else torch.remainder


@register("Where")
def _where(spec: Spec) -> Fn:
    torch = load_torch()
    return lambda condition, x, y: torch.where(condition.bool(), x, y)


@register("Cast")
def _cast(spec: Spec) -> Fn:
    dtype = getattr(load_torch(), onnx_dtype_name(int(spec.attr("to", 1))))
    return lambda x, *_: x.to(dtype)
