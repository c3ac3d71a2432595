"""Output types of the commonest default-domain ops, worked out here instead of by ONNX's per-node inference.

graph/shapes.py asks ONNX to infer each node whose shapes the whole-graph pass left unknown; on a transformer or a
detector that is thousands of calls, most of them for elementwise ops, transposes and products whose outputs follow
from their inputs' dims alone. These rules give the same answer for those ops when every input's dims are known
(with a defined element type) and the node is well formed. Anything else (an unknown dim, mixed element types, an
axis out of range, shapes that do not broadcast) gets None and is left to ONNX, so that a malformed node fails
there as it always has.

A rule takes the node and its inputs' element types and dims (None for an omitted input) and returns one (element
type, dims) per output.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import onnx

from graph.context import NodeView
from graph.shapes_custom import Dims, broadcast

__all__ = ["PLAIN_RULES"]

Inputs = Sequence[tuple[int, Dims] | None]
Rule = Callable[[NodeView, Inputs], list[tuple[int, Dims]] | None]

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


def _same_shape(node: NodeView, inputs: Inputs):
    if len(inputs) != 1 or inputs[0] is None or not _one_output(node):
        return None
    return [inputs[0]]


def _broadcasting(node: NodeView, inputs: Inputs):
    tensors = _present(inputs)
    if tensors is None or len(tensors) != 2 or not _one_output(node) or tensors[0][0] != tensors[1][0]:
        return None
    try:
        dims = broadcast(tensors[0][1], tensors[1][1])
    except ValueError:
        return None
    return [(onnx.TensorProto.BOOL if node.op_type in _COMPARISONS else tensors[0][0], dims)]


def _transpose(node: NodeView, inputs: Inputs):
    if len(inputs) != 1 or inputs[0] is None or not _one_output(node):
        return None
    elem_type, dims = inputs[0]
    perm = node.attribute("perm", tuple(reversed(range(len(dims)))))
    if not isinstance(perm, tuple) or sorted(perm) != list(range(len(dims))):
        return None
    return [(elem_type, tuple(dims[axis] for axis in perm))]


def _matmul(node: NodeView, inputs: Inputs):
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


def _concat(node: NodeView, inputs: Inputs):
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


def _shape(node: NodeView, inputs: Inputs):
    if len(inputs) != 1 or inputs[0] is None or not _one_output(node):
        return None
    start, end = node.attribute("start", 0), node.attribute("end", None)
    if not isinstance(start, int) or not (end is None or isinstance(end, int)):
        return None
    return [(onnx.TensorProto.INT64, (len(inputs[0][1][start:end]),))]


PLAIN_RULES: dict[str, Rule] = {
    **dict.fromkeys(_SAME_SHAPE, _same_shape),
    **dict.fromkeys(_ARITHMETIC | _COMPARISONS, _broadcasting),
    "Transpose": _transpose,
    "MatMul": _matmul,
    "Concat": _concat,
    "Shape": _shape,
}
