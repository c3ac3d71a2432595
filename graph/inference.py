"""ONNX's whole-graph shape inference, read once into plain types (graph/shapes.py takes over where it stops).

ONNX's data propagation (shape arithmetic: Shape -> Gather -> Concat -> Reshape) is not used: it keeps
one record per element of every vector it follows (a hostile 1-D tensor of 2**30 elements would cost
tens of GB), it stops at the first op it does not know, and on every committed graph where plain
inference leaves outputs unknown, graph/shapes.py's pass, fed with the plain result, finds the same
shapes (27 of 37 such graphs needed that pass anyway; the other 10 now pay it instead of a second
whole-graph inference and a second read of its types).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

import onnx

from graph.errors import ShapeError
from graph.views import NodeView

__all__ = ["Dims", "TensorTypes", "infer_shapes", "tensor_types", "unknown_outputs", "value_types"]

_INFERENCE_ERRORS = (onnx.shape_inference.InferenceError, onnx.checker.ValidationError, RuntimeError, ValueError,
                     TypeError)


Dims = tuple[int | None, ...]  # a None dim: its size is unknown
# Tensor name -> (ONNX element type, dims; None when even the rank is unknown), as the graph's typed values
# (inputs, value_info, outputs) give them. Read once per inference: on a graph of 200,000 nodes one read of
# the types costs 0.7 s, and the batch axis, the unknown-output check and the context all need them.
TensorTypes = dict[str, tuple[int, Dims | None]]


def infer_shapes(model: onnx.ModelProto | bytes, label: str) -> TensorTypes:
    """The tensor types of `model` (or its serialized bytes: the caller need not hold the model meanwhile) as ONNX
    infers them (ONNX's inferred model is not kept: its types are all that is read of it)."""
    return tensor_types(_onnx_inference(model, label))


def tensor_types(model: onnx.ModelProto) -> TensorTypes:
    """Each typed tensor's element type and dims: the graph's inputs, then value_info, then outputs."""
    graph = model.graph
    return value_types((*graph.input, *graph.value_info, *graph.output))


def value_types(values: Iterable[onnx.ValueInfoProto]) -> TensorTypes:
    """Each typed value's element type and dims (a dim without a non-negative value is None); '' names no tensor.

    A type is read once per distinct TypeProto (by its bytes): most tensors of a graph share a few types, and
    reading a type's dims field by field cost five times more than serializing it."""
    types: TensorTypes = {}
    read: dict[bytes, tuple[int, Dims | None] | None] = {}
    for value in values:
        name = value.name
        if not name:
            continue
        type_proto = value.type
        key = type_proto.SerializeToString()
        found = read.get(key, _UNREAD)
        if found is _UNREAD:
            read[key] = found = _tensor_type(type_proto)
        if found is not None:
            types[name] = found
    return types


_UNREAD = object()


def _tensor_type(type_proto: onnx.TypeProto) -> tuple[int, Dims | None] | None:
    """(element type, dims) of a tensor type; None for any other type."""
    if not type_proto.HasField("tensor_type"):
        return None
    tensor_type = type_proto.tensor_type
    if not tensor_type.HasField("shape"):
        return tensor_type.elem_type, None
    dims = tuple([d.dim_value if d.HasField("dim_value") else None for d in tensor_type.shape.dim])
    if dims and not all(size is None or size >= 0 for size in dims):
        dims = tuple(None if size is None or size < 0 else size for size in dims)
    return tensor_type.elem_type, dims


def unknown_outputs(model: onnx.ModelProto, nodes: Sequence[NodeView], types: TensorTypes) -> bool:
    """Whether some output of `nodes` (the model's node views) lacks a concrete shape in `types` (its inferred
    tensor_types)."""
    known = {name for name, (_, dims) in types.items() if dims is not None and None not in dims}
    known.update(tensor.name for tensor in model.graph.initializer)
    produced = set(itertools.chain.from_iterable(node.outputs for node in nodes))
    produced.discard("")
    return not produced <= known


def _onnx_inference(model: onnx.ModelProto | bytes, label: str) -> onnx.ModelProto:
    try:
        return onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False)
    except _INFERENCE_ERRORS as error:
        raise ShapeError(f"{label}: shape inference failed: {_first_line(error)}") from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
