"""Which axis of each input is the batch: from the declared symbolic dims, else from the graph.

Rule (README, "Batch axis"):
1. An input with symbolic dims: its batch axis holds the dim name that every input with symbolic
   dims shares; when several qualify, a batch-like name (batch, batch_size, N, B, bs), else axis 0
   if it is one of them (any other symbolic dim, e.g. a sequence length, must be given). A
   sequence-first export with dims (seq, batch, 128) has its batch on axis 1.
2. An input with fixed dims: the samples of a batch never mix, so the batch axis is the lowest
   axis that no op mixes as the tensor flows through the graph: contracted by a MatMul or Gemm,
   reduced, normalised over (Softmax, LayerNormalization), convolved or pooled (channels and
   space), or run along by a recurrent op (its sequence). A fixed (128, 1, 256) input of a
   sequence-first transformer has its batch on axis 1: attention mixes axis 0, Linear layers axis 2.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import onnx

from graph.inference import TensorTypes
from graph.views import NodeView

__all__ = ["flow_batch_axis", "model_shapes", "symbolic_batch_axes"]

_BATCH_NAMES = ("batch", "batch_size", "n", "b", "bs", "batchsize")
_ELEMENTWISE = frozenset({
    "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "Where", "Equal", "Greater", "Less",
    "GreaterOrEqual", "LessOrEqual", "And", "Or", "Xor", "Not", "Relu", "Sigmoid", "Tanh", "Erf", "Sqrt", "Exp",
    "Log", "Abs", "Neg", "Clip", "LeakyRelu", "HardSigmoid", "HardSwish", "Gelu", "Softplus", "Softsign", "Elu",
    "Selu", "Celu", "Mish", "Cast", "CastLike", "Identity", "Dropout", "Reciprocal", "Floor", "Ceil", "Round", "Sign",
    "PRelu", "Mod", "IsNaN", "IsInf", "Sin", "Cos", "BatchNormalization", "QuantizeLinear", "DequantizeLinear",
    "Expand", "Slice", "Pad", "Split", "Tile", "Trilu", "ThresholdedRelu", "Shrink", "BitShift",
})
_RESHAPING = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze"})
_SPATIAL = frozenset({"Conv", "ConvTranspose", "ConvInteger", "QLinearConv", "MaxPool", "AveragePool", "LpPool",
                      "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool", "InstanceNormalization", "Resize",
                      "Upsample", "DepthToSpace", "SpaceToDepth", "GroupNormalization", "LRN", "RoiAlign"})
_REDUCE = frozenset({"ReduceMean", "ReduceMax", "ReduceMin", "ReduceSum", "ReduceProd", "ReduceL1", "ReduceL2",
                     "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", "ArgMax", "ArgMin"})
_RECURRENT = frozenset({"LSTM", "GRU", "RNN"})

Labels = tuple[int | None, ...]


def symbolic_batch_axes(declared: Mapping[str, Sequence[int | str]]) -> dict[str, int]:
    """The batch axis of each input that has symbolic dims (rule 1); `declared` gives dims, '?' for unnamed."""
    symbolic = {name: [(axis, dim) for axis, dim in enumerate(dims) if isinstance(dim, str)]
                for name, dims in declared.items()}
    symbolic = {name: dims for name, dims in symbolic.items() if dims}
    named = [{dim for _, dim in dims if dim != "?"} for dims in symbolic.values()]
    shared = set.intersection(*named) if named else set()
    axes: dict[str, int] = {}
    for name, dims in symbolic.items():
        candidates = [(axis, dim) for axis, dim in dims if dim in shared] or dims
        batch_like = [axis for axis, dim in candidates if dim.lower() in _BATCH_NAMES or "batch" in dim.lower()]
        if batch_like:
            axes[name] = batch_like[0]
        elif candidates[0][0] == 0:
            axes[name] = 0  # exporters put an unnamed batch first
    return axes


def flow_batch_axis(nodes: Sequence[NodeView], input_name: str, shapes: Mapping[str, tuple[int, ...] | None]) -> int:
    """The lowest axis of `input_name` that no op of `nodes` (a model's node views) mixes (rule 2); 0 when every
    axis is mixed.

    `shapes` is `model_shapes(model, ...)`."""
    rank = len(shapes.get(input_name) or ())
    labels: dict[str, Labels] = {input_name: tuple(range(rank))}
    mixed: set[int] = set()
    for node in nodes:
        found = [labels.get(name) for name in node.inputs]
        if not any(found):
            continue
        try:
            flowed = _flow(node, found, shapes, mixed)
        except (TypeError, ValueError, IndexError, KeyError, ZeroDivisionError):
            continue  # a malformed node: its handler reports it; here it just ends the trail
        labels.update(flowed)
    free = [axis for axis in range(rank) if axis not in mixed]
    return free[0] if free else 0


def _flow(node: NodeView, found: list[Labels | None], shapes, mixed: set[int]) -> dict[str, Labels]:
    op = node.op_type
    outputs = [name for name in node.outputs if name]
    first = found[0]
    if op in _ELEMENTWISE:
        known = [labels for labels in found if labels]
        merged = known[0] if len(known) == 1 else _align(known)
        flowed = {}
        for name in outputs:
            shape = shapes.get(name)
            flowed[name] = merged[-len(shape):] if shape else merged
        return flowed
    if first is None:
        return {}
    if op == "Transpose":
        perm = node.attribute("perm") or tuple(reversed(range(len(first))))
        return {outputs[0]: tuple(first[axis] for axis in perm)}
    if op in _RESHAPING:
        return {outputs[0]: _reshape(first, shapes.get(node.inputs[0]), shapes.get(outputs[0]))}
    if op in ("MatMul", "MatMulInteger", "QLinearMatMul", "FusedMatMul"):
        return _matmul(node, found, mixed, outputs)
    if op in ("Gemm", "QGemm"):
        a = first if len(first) == 2 else (None, None)
        rows, inner = (a[1], a[0]) if node.attribute("transA") else a
        _mix(mixed, inner)
        return {outputs[0]: (rows, None)}
    if op in _SPATIAL:
        _mix(mixed, *first[1:])
        return {outputs[0]: (first[0], *[None] * (len(first) - 1))} if outputs else {}
    if op in ("Softmax", "LogSoftmax", "Hardmax", "CumSum", "TopK", "LayerNormalization"):
        axis = int(node.attribute("axis", -1)) % len(first)
        _mix(mixed, *(first[axis:] if op == "LayerNormalization" else (first[axis],)))
        return {outputs[0]: first}
    if op == "Einsum":
        return _einsum(str(node.attribute("equation", "")), found, mixed, outputs)
    if op in _REDUCE:
        axes = node.attribute("axes") or tuple(range(len(first)))
        _mix(mixed, *(first[axis % len(first)] for axis in axes))
        return {}
    if op in _RECURRENT:
        sequence, batch, features = (1, 0, 2) if node.attribute("layout") else (0, 1, 2)
        _mix(mixed, first[sequence], first[features])
        return {outputs[0]: (None, None, first[batch], None)} if outputs else {}
    if op == "Concat":
        merged = _align([labels for labels in found if labels])
        return {outputs[0]: merged}
    if op == "Gather":
        axis = int(node.attribute("axis", 0)) % len(first)
        indices = shapes.get(node.inputs[1]) or ()
        return {outputs[0]: (*first[:axis], *[None] * len(indices), *first[axis + 1:])}
    return {}


def _mix(mixed: set[int], *labels: int | None) -> None:
    mixed.update(label for label in labels if label is not None)


def _align(all_labels: list[Labels]) -> Labels:
    """Broadcast-align label tuples from the right; the first known label at a position wins."""
    rank = max(len(labels) for labels in all_labels)
    out: list[int | None] = [None] * rank
    for labels in all_labels:
        for offset, label in enumerate(reversed(labels)):
            if out[rank - 1 - offset] is None:
                out[rank - 1 - offset] = label
    return tuple(out)


def _matmul(node, found, mixed, outputs) -> dict[str, Labels]:
    a = found[0] or ()
    b = found[3] if node.op_type == "QLinearMatMul" and len(found) > 3 else (found[1] if len(found) > 1 else None)
    b = b or ()
    if len(a) >= 2:
        _mix(mixed, a[-1])
    if len(b) >= 2:
        _mix(mixed, b[-2])
    if len(a) < 2 or not outputs:
        return {}
    batch = _align([part for part in (a[:-2], b[:-2] if len(b) >= 2 else ()) if part]) if len(a) > 2 or len(b) > 2 else ()
    return {outputs[0]: (*batch, a[-2], b[-1] if len(b) >= 2 else None)}


def _einsum(equation: str, found, mixed: set[int], outputs) -> dict[str, Labels]:
    """Letters summed over are mixed; the output's letters keep the label of the first operand that has them."""
    inputs, _, output = equation.replace(" ", "").partition("->")
    terms = inputs.split(",")
    if "..." in equation or not output or len(terms) != len(found):
        _mix(mixed, *(label for labels in found if labels for label in labels))
        return {}
    by_letter: dict[str, int | None] = {}
    for term, labels in zip(terms, found, strict=True):
        for letter, label in zip(term, labels or (None,) * len(term), strict=False):
            if letter not in output:
                _mix(mixed, label)
            if by_letter.get(letter) is None:
                by_letter[letter] = label
    return {outputs[0]: tuple(by_letter.get(letter) for letter in output)} if outputs else {}


def _reshape(labels: Labels, before, after) -> Labels:
    """Axes that keep their size at the same element offset keep their label; size-1 axes lose it."""
    if not before or not after or math.prod(before) != math.prod(after):
        return (None,) * len(after or ())
    starts_before = {}
    offset = 1
    for axis, size in enumerate(before):
        starts_before[(offset, size)] = labels[axis] if size != 1 else None
        offset *= size
    out: list[int | None] = []
    offset = 1
    for size in after:
        out.append(starts_before.get((offset, size)))
        offset *= size
    return tuple(out)


def model_shapes(model: onnx.ModelProto, types: TensorTypes) -> dict[str, tuple[int, ...] | None]:
    """Each tensor's dims as `types` (the model's graph.inference.TensorTypes) give them (None: some dim unknown),
    and each initializer's, for flow_batch_axis."""
    shapes: dict[str, tuple[int, ...] | None] = {name: None if None in dims else dims
                                                 for name, (_, dims) in types.items() if dims is not None}
    for tensor in model.graph.initializer:
        shapes[tensor.name] = tuple(tensor.dims)
    return shapes
