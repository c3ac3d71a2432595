"""ONNX's whole-graph shape inference with bounded cost (graph/shapes.py takes over where it stops).

ONNX's data propagation (shape arithmetic: Shape -> Gather -> Concat -> Reshape) keeps one record
per element of every vector it follows, so a hostile 1-D tensor of 2**30 elements would cost tens
of GB. Plain inference runs first; data propagation runs only when plain inference leaves outputs
unknown and every vector it could follow is known and small.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable

import onnx
from onnx import defs

from graph.errors import ShapeError

__all__ = ["MAX_PROPAGATED_ELEMENTS", "Dims", "TensorTypes", "infer_shapes", "tensor_types", "unknown_outputs",
           "value_types"]

MAX_PROPAGATED_ELEMENTS = 1 << 12
_GRAPH_ATTRIBUTES = (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
_INFERENCE_ERRORS = (onnx.shape_inference.InferenceError, onnx.checker.ValidationError, RuntimeError, ValueError,
                     TypeError)


Dims = tuple[int | None, ...]  # a None dim: its size is unknown
# Tensor name -> (ONNX element type, dims; None when even the rank is unknown), as the graph's typed values
# (inputs, value_info, outputs) give them. Read once per inference: on a graph of 200,000 nodes one read of
# the types costs 0.7 s, and the batch axis, the unknown-output check and the context all need them.
TensorTypes = dict[str, tuple[int, Dims | None]]


def infer_shapes(model: onnx.ModelProto, label: str) -> tuple[TensorTypes, bool]:
    """The tensor types of `model` with the shapes ONNX infers within the bounds, and whether some node output is
    still unknown (ONNX's inferred model is not kept: its types are all that is read of it)."""
    inferred = _onnx_inference(model, label, data_prop=False)
    types = tensor_types(inferred)
    if not unknown_outputs(model, types):
        return types, False
    if _propagation_is_bounded(model, types):
        types = tensor_types(_onnx_inference(model, label, data_prop=True))
        return types, unknown_outputs(model, types)
    return types, True


def tensor_types(model: onnx.ModelProto) -> TensorTypes:
    """Each typed tensor's element type and dims: the graph's inputs, then value_info, then outputs."""
    graph = model.graph
    return value_types((*graph.input, *graph.value_info, *graph.output))


def value_types(values: Iterable[onnx.ValueInfoProto]) -> TensorTypes:
    """Each typed value's element type and dims (a dim without a non-negative value is None); '' names no tensor."""
    types: TensorTypes = {}
    for value in values:
        name = value.name
        type_proto = value.type
        if not name or not type_proto.HasField("tensor_type"):
            continue
        tensor_type = type_proto.tensor_type
        if tensor_type.HasField("shape"):
            dims = tuple([d.dim_value if d.HasField("dim_value") else None for d in tensor_type.shape.dim])
            if dims and not all(size is None or size >= 0 for size in dims):
                dims = tuple(None if size is None or size < 0 else size for size in dims)
        else:
            dims = None
        types[name] = (tensor_type.elem_type, dims)
    return types


def unknown_outputs(model: onnx.ModelProto, types: TensorTypes) -> bool:
    """Whether some node output lacks a concrete shape in `types` (the model's tensor_types)."""
    known = {name for name, (_, dims) in types.items() if dims is not None and None not in dims}
    known.update(tensor.name for tensor in model.graph.initializer)
    produced = set(itertools.chain.from_iterable(node.output for node in model.graph.node))
    produced.discard("")
    return not produced <= known


def _onnx_inference(model: onnx.ModelProto, label: str, data_prop: bool) -> onnx.ModelProto:
    try:
        return onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False, data_prop=data_prop)
    except _INFERENCE_ERRORS as error:
        raise ShapeError(f"{label}: shape inference failed: {_first_line(error)}") from None


def _propagation_is_bounded(model: onnx.ModelProto, types: TensorTypes) -> bool:
    """Whether every vector that ONNX's data propagation would follow is known to be small.

    Subgraphs are not looked into, so a model with any is not propagated (graph/shapes.py follows them).
    """
    ranks: dict[str, tuple[int, int | None]] = {  # name -> (rank, elements when known)
        name: (len(dims), None if None in dims else math.prod(dims)) for name, (_, dims) in types.items()
        if dims is not None}
    for tensor in model.graph.initializer:
        ranks[tensor.name] = (len(tensor.dims), math.prod(tensor.dims))
    for node in model.graph.node:
        if any(attribute.type in _GRAPH_ATTRIBUTES for attribute in node.attribute):
            return False
        if node.domain not in ("", "ai.onnx") or node.op_type not in _propagating_ops():
            continue
        for name in node.input:
            rank, elements = ranks.get(name, (0, None))
            if rank <= 1 and (elements is None or not 0 <= elements <= MAX_PROPAGATED_ELEMENTS):
                return False
    return True


_PROPAGATING: frozenset[str] | None = None


def _propagating_ops() -> frozenset[str]:
    """Op types with a data propagation function in ONNX's schemas (Add, Concat, Gather, Shape, ...)."""
    global _PROPAGATING
    if _PROPAGATING is None:
        _PROPAGATING = frozenset(schema.name for schema in defs.get_all_schemas_with_history()
                                 if getattr(schema, "has_data_propagation_function", True))
    return _PROPAGATING


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
