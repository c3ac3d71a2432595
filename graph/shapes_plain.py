"""Output types of the commonest default-domain ops, worked out here instead of by ONNX's per-node inference.

graph/shapes.py asks ONNX to infer each node whose shapes the whole-graph pass left unknown; on a transformer or a
detector that is thousands of calls, most of them for elementwise ops, transposes and products whose outputs follow
from their inputs' dims alone. These rules give the same answer for those ops when every input's dims are known
(with a defined element type) and the node is well formed. Anything else (an unknown dim, mixed element types, an
axis out of range, shapes that do not broadcast) gets None and is left to ONNX, so that a malformed node fails
there as it always has.

A rule takes the node, its inputs' element types and dims (None for an omitted input) and their values where known
(small tensors: graph/shapes.py computes them), and returns one (element type, dims) per output.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import onnx

from graph.ops.window import window_geometry
from graph.shapes_custom import Dims, broadcast
from graph.views import NodeView

__all__ = ["PLAIN_RULES"]

Inputs = Sequence[tuple[int, Dims] | None]
Values = Sequence[np.ndarray | None]
Rule = Callable[[NodeView, Inputs, Values], list[tuple[int, Dims]] | None]

_SAME_SHAPE = frozenset({
    "Relu", "Sigmoid", "Tanh", "Erf", "Sqrt", "Exp", "Log", "Abs", "Neg", "Reciprocal", "Floor", "Ceil", "Round",
    "Sign", "Sin", "Cos", "HardSigmoid", "HardSwish", "LeakyRelu", "Softplus", "Softsign", "Elu", "Selu", "Celu",
    "Mish", "Identity",
})
_ARITHMETIC = frozenset({"Add", "Sub", "Mul", "Div", "Pow"})
_COMPARISONS = frozenset({"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"})


def _present(inputs: Inputs) -> list[tuple[int, Dims]] | None:
    """The inputs when none is omitted, else None."""
    return None if any(tensor is None for tensor in inputs) else list(inputs)


def _one_output(node: NodeView) -> bool:
    return len(node.outputs) == 1


def _one_in_one_out(node: NodeView, inputs: Inputs) -> bool:
    return len(inputs) == 1 and inputs[0] is not None and _one_output(node)


def _same_shape(node: NodeView, inputs: Inputs, values: Values):
    return [inputs[0]] if _one_in_one_out(node, inputs) else None


def _broadcasting(node: NodeView, inputs: Inputs, values: Values):
    tensors = _present(inputs)
    if tensors is None or len(tensors) != 2 or not _one_output(node) or tensors[0][0] != tensors[1][0]:
        return None
    first, second = tensors[0][1], tensors[1][1]
    if first == second or not second:  # (most: same shapes, or a scalar)
        dims = first
    else:
        try:
            dims = broadcast(first, second)
        except ValueError:
            return None
    return [(onnx.TensorProto.BOOL if node.op_type in _COMPARISONS else tensors[0][0], dims)]


def _transpose(node: NodeView, inputs: Inputs, values: Values):
    if not _one_in_one_out(node, inputs):
        return None
    elem_type, dims = inputs[0]
    perm = node.attribute("perm", tuple(reversed(range(len(dims)))))
    if not isinstance(perm, tuple) or sorted(perm) != list(range(len(dims))):
        return None
    return [(elem_type, tuple(dims[axis] for axis in perm))]


def _matmul(node: NodeView, inputs: Inputs, values: Values):
    tensors = _present(inputs)
    if tensors is None or len(tensors) != 2 or not _one_output(node) or tensors[0][0] != tensors[1][0]:
        return None
    a, b = tensors[0][1], tensors[1][1]
    if len(a) < 2 or len(b) < 2 or a[-1] != b[-2]:
        return None  # (1-D operands are promoted and squeezed: ONNX's rule)
    try:
        batch = broadcast(a[:-2], b[:-2])
    except ValueError:
        return None
    return [(tensors[0][0], (*batch, a[-2], b[-1]))]


def _concat(node: NodeView, inputs: Inputs, values: Values):
    tensors = _present(inputs)
    if not tensors or not _one_output(node) or len({elem_type for elem_type, _ in tensors}) != 1:
        return None
    rank = len(tensors[0][1])
    axis = node.attribute("axis")
    if not isinstance(axis, int) or not -rank <= axis < rank or any(len(dims) != rank for _, dims in tensors):
        return None
    axis %= rank
    first = tensors[0][1]
    if any(dims[:axis] != first[:axis] or dims[axis + 1:] != first[axis + 1:] for _, dims in tensors):
        return None
    return [(tensors[0][0], (*first[:axis], sum(dims[axis] for _, dims in tensors), *first[axis + 1:]))]


def _shape(node: NodeView, inputs: Inputs, values: Values):
    if not _one_in_one_out(node, inputs):
        return None
    start, end = node.attribute("start", 0), node.attribute("end", None)
    if not isinstance(start, int) or not (end is None or isinstance(end, int)):
        return None
    return [(onnx.TensorProto.INT64, (len(inputs[0][1][start:end]),))]


def _conv(node: NodeView, inputs: Inputs, values: Values):
    """Conv with explicit pads (or VALID); auto_pad SAME and anything irregular are ONNX's."""
    if len(inputs) not in (2, 3) or inputs[0] is None or inputs[1] is None or not _one_output(node):
        return None
    (elem_type, data), (weight_type, weight) = inputs[0], inputs[1]
    spatial = len(data) - 2
    if elem_type != weight_type or spatial < 1 or len(weight) != len(data):
        return None
    group = node.attribute("group", 1)
    kernel = weight[2:]
    strides = node.attribute("strides", (1,) * spatial)
    dilations = node.attribute("dilations", (1,) * spatial)
    auto_pad = node.attribute("auto_pad", "NOTSET") or "NOTSET"
    pads = node.attribute("pads", (0,) * (2 * spatial))
    if (not isinstance(group, int) or group < 1 or data[1] != weight[1] * group or weight[0] % group
            or node.attribute("kernel_shape", kernel) != kernel or auto_pad not in ("NOTSET", "VALID")
            or (auto_pad == "VALID" and node.attribute("pads") is not None)
            or not all(isinstance(v, tuple) and all(isinstance(x, int) for x in v) for v in (strides, dilations, pads))
            or len(strides) != spatial or len(dilations) != spatial or len(pads) != 2 * spatial
            or min(strides) < 1 or min(dilations) < 1):
        return None
    if len(inputs) == 3 and inputs[2] is not None and inputs[2][1] != (weight[0],):
        return None
    try:  # (the records' own window arithmetic; negative pads or a window larger than the input: ONNX's)
        _, _, sizes = window_geometry(data[2:], kernel, strides, dilations, pads, auto_pad)
    except ValueError:
        return None
    return [(elem_type, (data[0], weight[0], *sizes))]


def _reshape(node: NodeView, inputs: Inputs, values: Values):
    """Reshape to a known shape value: 0 copies the input's dim (unless allowzero), one -1 takes what is left."""
    if len(inputs) != 2 or inputs[0] is None or values[1] is None or not _one_output(node):
        return None
    elem_type, data = inputs[0]
    target = values[1]
    if target.dtype != np.int64 or target.ndim != 1 or node.attribute("allowzero", 0):
        return None
    dims = [int(d) for d in target]
    if any(d < -1 for d in dims) or dims.count(-1) > 1 or any(d == 0 and i >= len(data) for i, d in enumerate(dims)):
        return None
    dims = [data[i] if d == 0 else d for i, d in enumerate(dims)]
    total, known = math.prod(data), math.prod(d for d in dims if d != -1)
    if -1 in dims:
        if known == 0 or total % known:
            return None
        dims[dims.index(-1)] = total // known
    elif known != total:
        return None
    return [(elem_type, tuple(dims))]


PLAIN_RULES: dict[str, Rule] = {
    **dict.fromkeys(_SAME_SHAPE, _same_shape),
    **dict.fromkeys(_ARITHMETIC | _COMPARISONS, _broadcasting),
    "Transpose": _transpose,
    "MatMul": _matmul,
    "Concat": _concat,
    "Shape": _shape,
    "Conv": _conv,
    "Reshape": _reshape,
}
