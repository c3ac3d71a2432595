"""ONNX's whole-graph shape inference with bounded cost (graph/shapes.py takes over where it stops).

ONNX's data propagation (shape arithmetic: Shape -> Gather -> Concat -> Reshape) keeps one record
per element of every vector it follows, so a hostile 1-D tensor of 2**30 elements would cost tens
of GB. Plain inference runs first; data propagation runs only when plain inference leaves outputs
unknown and every vector it could follow is known and small.
"""

from __future__ import annotations

import itertools
import math
import operator

import onnx
from onnx import defs

from graph.errors import ShapeError

__all__ = ["MAX_PROPAGATED_ELEMENTS", "infer_shapes", "unknown_outputs"]

MAX_PROPAGATED_ELEMENTS = 1 << 12
_GRAPH_ATTRIBUTES = (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
_INFERENCE_ERRORS = (onnx.shape_inference.InferenceError, onnx.checker.ValidationError, RuntimeError, ValueError,
                     TypeError)


def infer_shapes(model: onnx.ModelProto, label: str) -> tuple[onnx.ModelProto, bool]:
    """`model` with the shapes ONNX infers within the bounds, and whether some node output is still unknown."""
    inferred = _onnx_inference(model, label, data_prop=False)
    if not unknown_outputs(inferred):
        return inferred, False
    if _propagation_is_bounded(inferred):
        inferred = _onnx_inference(model, label, data_prop=True)
        return inferred, unknown_outputs(inferred)
    return inferred, True


def unknown_outputs(model: onnx.ModelProto) -> bool:
    """Whether some node output lacks a concrete shape."""
    known = set()
    for value in (*model.graph.value_info, *model.graph.output, *model.graph.input):
        tensor_type = value.type.tensor_type
        if tensor_type.HasField("shape") and all(map(_has_dim_value, tensor_type.shape.dim)):
            known.add(value.name)
    known.update(tensor.name for tensor in model.graph.initializer)
    produced = set(itertools.chain.from_iterable(node.output for node in model.graph.node))
    produced.discard("")
    return not produced <= known


_has_dim_value = operator.methodcaller("HasField", "dim_value")


def _onnx_inference(model: onnx.ModelProto, label: str, data_prop: bool) -> onnx.ModelProto:
    try:
        return onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False, data_prop=data_prop)
    except _INFERENCE_ERRORS as error:
        raise ShapeError(f"{label}: shape inference failed: {_first_line(error)}") from None


def _propagation_is_bounded(model: onnx.ModelProto) -> bool:
    """Whether every vector that ONNX's data propagation would follow is known to be small.

    Subgraphs are not looked into, so a model with any is not propagated (graph/shapes.py follows them).
    """
    ranks: dict[str, tuple[int, int | None]] = {}  # name -> (rank, elements when known)
    for value in (*model.graph.input, *model.graph.value_info, *model.graph.output):
        tensor_type = value.type.tensor_type
        if tensor_type.HasField("shape"):
            dims = [dim.dim_value if dim.HasField("dim_value") else None for dim in tensor_type.shape.dim]
            ranks[value.name] = (len(dims), None if None in dims else math.prod(dims))
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
