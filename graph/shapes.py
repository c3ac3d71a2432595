"""Shapes where ONNX's whole-graph inference gives up: one topological pass that carries values.

With every input shape fixed, the shape arithmetic of an export (Shape -> Gather -> Div -> Concat
-> Reshape, the sizes a detector's transform resizes to, a shifted window's pads) is constant, but
ONNX's whole-graph inference (run without its data propagation: graph/inference.py) does not carry values.
This pass walks the nodes once, evaluates every small tensor whose inputs are known (ONNX's
reference implementation of each op), and infers each node's outputs with ONNX's own per-node
inference fed with those values (the commonest ops by the rules of graph/shapes_plain.py, which give the same
answers without calling ONNX). Ops ONNX has no schema for get rules in graph/shapes_custom.py.

Data-dependent sizes (how many elements NonZero finds, how many boxes NonMaxSuppression keeps)
cannot be known from shapes. Rule: such a dimension takes its upper bound from the graph (NonZero:
every element; NonMaxSuppression: every box of every class, capped by max_output_boxes_per_class;
Compress/Unique: the whole axis; TopK with an unknown k: the whole axis), and every tensor computed
from it is marked data-dependent, so reports can say which layers' costs are bounds.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator
from onnx.reference.op_run import OpRun

from graph.inference import TensorTypes
from graph.schemas import op_schema
from graph.shapes_custom import CUSTOM_RULES
from graph.shapes_plain import PLAIN_RULES
from graph.shapes_scope import MAX_VALUE_ELEMENTS, Scope, Tensor, from_type, is_complete, small_array, values_key
from graph.views import DEFAULT_DOMAINS, NodeView, node_views, text

__all__ = ["DATA_DEPENDENT_OPS", "Resolution", "resolve_shapes"]

DATA_DEPENDENT_OPS = frozenset({"NonZero", "NonMaxSuppression", "Compress", "Unique", "TopK"})
_NOT_EVALUATED = frozenset({"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial",
                            "Bernoulli", "If", "Loop", "Scan", "SequenceMap"})


@dataclass(frozen=True)
class Resolution:
    """What the pass found: small values computed from shapes, and the data-dependent tensors."""

    values: dict[str, np.ndarray]
    data_dependent: frozenset[str]


def resolve_shapes(model: onnx.ModelProto, inferred: TensorTypes,
                   nodes: Sequence[NodeView]) -> tuple[TensorTypes, Resolution]:
    """The tensor types of `model` (`nodes` are its node views) with every shape the pass can work out, by tensor
    name as text (graph.views.text).

    `inferred` are the tensor types of ONNX's whole-graph result for the model with its inputs fixed: its inputs'
    types are taken from there, and its shapes stand where the pass finds none (e.g. outputs of control flow it
    does not enter).
    """
    opsets = {entry.domain or "": int(entry.version) for entry in model.opset_import}
    opsets.setdefault("", opsets.get("ai.onnx", 0))
    scope = Scope(opsets)
    fallback = {name if name.__class__ is str else text(name): Tensor(*found) for name, found in inferred.items()}
    inputs = {name: found for value in model.graph.input if (name := text(value.name)) and (found := fallback.get(name))}
    scope.tensors.update(inputs)  # ('' names no tensor: it marks an omitted input)
    for tensor in model.graph.initializer:
        if not tensor.name:
            continue
        name = text(tensor.name)
        scope.tensors[name] = Tensor(tensor.data_type, tuple(int(d) for d in tensor.dims))
        scope.initializers[name] = tensor
    _walk(nodes, scope, fallback)

    # The graph's inputs (fixed), then each tensor the pass sized, then outputs it did not (rank unknown).
    resolved = {name: (tensor.elem_type, tensor.dims) for name, tensor in inputs.items()}
    graph_inputs = set(resolved) | {text(tensor.name) for tensor in model.graph.initializer}
    resolved.update((name, (tensor.elem_type, tensor.dims)) for name, tensor in scope.tensors.items()
                    if name not in graph_inputs and tensor.dims is not None)
    for value in model.graph.output:
        name = text(value.name)
        if name and name not in resolved and value.type.HasField("tensor_type"):
            resolved[name] = (value.type.tensor_type.elem_type, None)
    return resolved, Resolution(dict(scope.values), frozenset(scope.tainted))


def _walk(nodes: Sequence[NodeView], scope: Scope, fallback: dict[str, Tensor]) -> None:
    complete = {name for name, (_, dims) in fallback.items()  # sized by ONNX's whole-graph pass
                if dims is not None and None not in dims}
    for node in nodes:
        outputs = node.outputs if "" not in node.outputs else [name for name in node.outputs if name]
        if not outputs:
            continue
        inputs = node.inputs
        if node.has_subgraphs:
            _control_flow(node, scope, fallback)
        else:
            if _known_everywhere(node, inputs, outputs, scope, fallback, complete):
                scope.tensors.update((name, fallback[name]) for name in outputs)
                if _nothing_to_evaluate(node, inputs, scope):
                    continue  # ONNX's sizes stand, no input is tainted: nothing below would change (most nodes)
            else:
                _infer(node, scope)
            if all(_small(scope.tensors.get(name)) for name in outputs):
                _evaluate(node, scope)
        if scope.outer is None:  # ('' is never tainted)
            tainted = bool(scope.tainted) and not scope.tainted.isdisjoint(inputs)
        else:
            tainted = any(scope.is_tainted(name) for name in inputs if name)
        if node.op_type in DATA_DEPENDENT_OPS and node.domain in DEFAULT_DOMAINS and _bound(node, scope):
            tainted = True
        for name in outputs:
            if name in complete:
                known = scope.tensors.get(name)
                if known is None or (known is not fallback[name] and not is_complete(known)):
                    scope.tensors[name] = fallback[name]
            if tainted:
                scope.tainted.add(name)


def _nothing_to_evaluate(node: NodeView, inputs, scope: Scope) -> bool:
    """Whether _evaluate would find nothing to compute: not an op whose value comes from a shape or an attribute,
    and some input of unknown value."""
    if node.op_type in ("Shape", "Size", "Constant"):
        return False
    return any(scope.value(name) is None for name in inputs if name)


def _known_everywhere(node: NodeView, inputs, outputs: Sequence[str], scope: Scope, fallback: dict[str, Tensor],
                      complete: set[str]) -> bool:
    """Whether ONNX's whole-graph inference already gave every output a full shape that this node's own inference
    would only repeat: its inputs are as ONNX saw them (none sized by an upper bound here) and its sizes do not
    depend on data. Most nodes of a graph that needs this pass are such; skipping their inference halves it."""
    if not complete.issuperset(outputs) or node.op_type in DATA_DEPENDENT_OPS or node.domain not in DEFAULT_DOMAINS:
        return False
    for name in inputs:
        if not name:
            continue
        if scope.is_tainted(name):
            return False
        seen = scope.tensor(name)
        expected = fallback.get(name, seen)
        if seen is not expected and seen != expected:
            return False
    return True


def _small(tensor: Tensor | None) -> bool:
    """Unknown, or known to hold at most MAX_VALUE_ELEMENTS elements (worth evaluating)."""
    if tensor is None or not is_complete(tensor):
        return True
    return math.prod(tensor.dims) <= MAX_VALUE_ELEMENTS


# -- values ------------------------------------------------------------------------------------


def _evaluate(node: NodeView, scope: Scope) -> bool:
    """Compute the node's outputs when every input's value is known (Shape/Size: its input's dims)."""
    if node.domain not in DEFAULT_DOMAINS or node.op_type in _NOT_EVALUATED:
        return False
    if node.op_type in ("Shape", "Size"):
        tensor = scope.tensor(node.input(0)) if node.input(0) else None
        if tensor is None or not is_complete(tensor):
            return False
        dims = np.array(tensor.dims, dtype=np.int64)
        if node.op_type == "Size":
            result = np.array(math.prod(tensor.dims), dtype=np.int64)
        else:
            start, end = node.attribute("start", 0), node.attribute("end", None)
            result = dims[start:end]
        _store(node.outputs[0], result, scope)
        return True
    array = _constant_array(node, scope) if node.op_type == "Constant" else _NOT_A_TENSOR
    if array is not _NOT_A_TENSOR:  # a Constant's tensor needs no reference op (exports have hundreds of them)
        if array is not None:
            _store(node.outputs[0], array, scope)
        return array is not None
    inputs = []
    for name in node.inputs:
        if not name:
            inputs.append(None)
            continue
        value = scope.value(name)
        if value is None:
            return False
        inputs.append(value)
    by_values = values_key(inputs)
    key = None if by_values is None else (node.op_type, node.attributes_key, by_values)
    if key is not None and key in scope.evaluated:
        results = scope.evaluated[key]
    else:
        results = _run_reference(node, inputs, scope)
        if key is not None:
            scope.evaluated[key] = results
    if results is None:
        return False
    for name, result in zip(node.outputs, results, strict=False):
        if name and result is not None:
            _store(name, result, scope)
    return True


_NOT_A_TENSOR = object()  # a Constant whose value is given otherwise (value_float, value_ints, ...)


def _constant_array(node: NodeView, scope: Scope) -> np.ndarray | object | None:
    """A Constant's array when its value is a small tensor (None: a large one; _NOT_A_TENSOR: not a tensor), read
    once per distinct attributes (exports repeat the same axes and indices)."""
    key = node.attributes_key
    if key not in scope.constants:
        tensor = _constant_tensor(node)
        scope.constants[key] = _NOT_A_TENSOR if tensor is None else small_array(tensor)
    return scope.constants[key]


def _run_reference(node: NodeView, inputs: list[np.ndarray | None],
                   scope: Scope) -> tuple[np.ndarray | None, ...] | None:
    """The node's outputs from ONNX's reference implementation (None: it cannot run here)."""
    try:
        results = _op(node.op_type, scope.opsets[""])(node.proto, _RUN_PARAMS).run(*inputs)
    except Exception:  # an op the reference cannot run here: infer its shapes instead
        return None
    if not isinstance(results, tuple):
        results = (results,)
    return tuple(None if result is None else np.asarray(result) for result in results)


def _store(name: str, array: np.ndarray, scope: Scope) -> None:
    if not name:
        return  # an omitted output: '' must never be found as a tensor
    try:
        elem_type = helper.np_dtype_to_tensor_dtype(array.dtype)
    except (KeyError, TypeError, ValueError):
        elem_type = onnx.TensorProto.UNDEFINED
    scope.tensors[name] = Tensor(elem_type, tuple(int(d) for d in array.shape))
    if array.size <= MAX_VALUE_ELEMENTS:
        scope.values[name] = array


_RUN_PARAMS = {"log": lambda *args: None, "opsets": {}, "verbose": 0, "new_ops": {}, "existing_functions": {},
               "evaluator_cls": ReferenceEvaluator}


@functools.lru_cache(maxsize=512)
def _op(op_type: str, version: int) -> type[OpRun]:
    from onnx.reference.ops import load_op

    return load_op("", op_type, version, evaluator_cls=ReferenceEvaluator)


# -- inference ---------------------------------------------------------------------------------


def _infer(node: NodeView, scope: Scope) -> None:
    """The node's output types from ONNX's per-node inference (or a custom-domain rule)."""
    inputs = [scope.tensor(name) if name else None for name in node.inputs]
    if node.domain not in DEFAULT_DOMAINS:
        rule = CUSTOM_RULES.get((node.domain, node.op_type))
        if rule is None:
            return
        try:
            found = rule(node.proto, [None if t is None else t.dims for t in inputs],
                         [onnx.TensorProto.UNDEFINED if t is None else t.elem_type for t in inputs])
        except (ValueError, IndexError, TypeError):
            return
        for name, (elem_type, dims) in zip(node.outputs, found, strict=False):
            if name:
                scope.tensors[name] = Tensor(elem_type, dims)
        return
    if any(name and tensor is None for name, tensor in zip(node.inputs, inputs, strict=True)):
        return
    values = [scope.value(name) if name else None for name in node.inputs]
    rule = PLAIN_RULES.get(node.op_type)
    if rule is not None and all(tensor is None or (tensor.elem_type and is_complete(tensor)) for tensor in inputs):
        found = rule(node, [None if tensor is None else (tensor.elem_type, tensor.dims) for tensor in inputs], values)
        if found is not None:  # (None: a case the rule leaves to ONNX)
            for name, (elem_type, dims) in zip(node.outputs, found, strict=True):
                if name:
                    scope.tensors[name] = Tensor(elem_type, dims)
            return
    by_values = values_key(values)
    key = None if by_values is None else (
        node.op_type, node.attributes_key, tuple([None if tensor is None else (tensor.elem_type, tensor.dims)
                                                         for tensor in inputs]), by_values, len(node.outputs))
    found = None if key is None else scope.inferred.get(key)
    if found is None:
        found = _infer_once(node, inputs, values, scope)
        if key is not None:
            scope.inferred[key] = found
    for name, tensor in zip(node.outputs, found, strict=True):
        if name and tensor is not None:
            scope.tensors[name] = tensor


def _infer_once(node: NodeView, inputs: list[Tensor | None], values: list[np.ndarray | None],
                scope: Scope) -> tuple[Tensor | None, ...]:
    """ONNX's per-node inference of one node: a Tensor per output (None: unknown). ONNX reads the node's names as
    its protobuf holds them (not as text)."""
    proto = node.proto
    unknown = (None,) * len(proto.output)
    schema = op_schema(node.op_type, scope.opsets[""])
    if schema is None:
        return unknown
    types = {name: scope.type_proto(tensor) for name, tensor in zip(proto.input, inputs, strict=True) if name}
    data = {name: numpy_helper.from_array(value, name)
            for name, value in zip(proto.input, values, strict=True) if value is not None}
    try:
        found = onnx.shape_inference.infer_node_outputs(
            schema, proto, types, data, opset_imports=scope.opset_ids)
    except Exception:  # inconsistent or unsupported: the outputs stay unknown (and the handler says so)
        return unknown
    return tuple(from_type(found[name]) if name and name in found and found[name].HasField("tensor_type") else None
                 for name in proto.output)


def _control_flow(node: NodeView, scope: Scope, fallback: dict[str, Tensor]) -> None:
    """An If whose condition is known: its branch's outputs (and the shapes inside it)."""
    if node.op_type != "If":
        return
    condition = scope.value(node.input(0)) if node.input(0) else None
    if condition is None or condition.size != 1:
        return
    branch = next((a.g for a in node.proto.attribute if a.name == ("then_branch" if bool(condition.reshape(-1)[0])
                                                                    else "else_branch")), None)
    if branch is None:
        return
    inner = Scope(scope.opsets, scope)
    for tensor in branch.initializer:
        inner.tensors[text(tensor.name)] = Tensor(tensor.data_type, tuple(int(d) for d in tensor.dims))
    _walk(node_views(branch), inner, fallback)
    for name, output in zip(node.outputs, branch.output, strict=False):
        inner_name = text(output.name)
        found = inner.tensor(inner_name)
        if name and found is not None:
            scope.tensors[name] = found
            if inner.value(inner_name) is not None:
                scope.values[name] = inner.value(inner_name)
            if inner.is_tainted(inner_name):
                scope.tainted.add(name)


# -- data-dependent sizes ----------------------------------------------------------------------


def _bound(node: NodeView, scope: Scope) -> bool:
    """Give a data-dependent output its upper bound; True when the node's outputs depend on data."""
    first = node.outputs[0]
    if node.op_type == "TopK":
        tensor = scope.tensor(first) if first else None
        if tensor is not None and is_complete(tensor):
            return False
    elif all(scope.value(name) is not None for name in node.inputs if name):
        return False  # evaluated: the values are known
    source = scope.tensor(node.input(0)) if node.input(0) else None
    if source is None or not is_complete(source):
        return True
    dims = source.dims
    if node.op_type in ("NonZero", "NonMaxSuppression") and not first:
        return True  # its only output omitted: nothing to size
    if node.op_type == "NonZero":
        scope.tensors[first] = Tensor(onnx.TensorProto.INT64, (len(dims), math.prod(dims)))
    elif node.op_type == "NonMaxSuppression":
        scores = scope.tensor(node.input(1)) if node.input(1) else None
        if scores is None or not is_complete(scores) or len(dims) != 3:
            return True
        limit = scope.value(node.input(2)) if node.input(2) else None
        per_class = dims[1] if limit is None or limit.size != 1 else min(dims[1], max(int(limit.reshape(-1)[0]), 0))
        scope.tensors[first] = Tensor(onnx.TensorProto.INT64, (dims[0] * scores.dims[1] * per_class, 3))
    else:
        axis = node.attribute("axis", None)
        for name in node.outputs:
            found = scope.tensor(name) if name else None
            if found is None or found.dims is None:
                continue
            size = math.prod(dims) if axis is None else dims[axis % len(dims)]
            scope.tensors[name] = Tensor(found.elem_type, tuple(size if d is None else d for d in found.dims))
    return True


# -- conversions -------------------------------------------------------------------------------


def _constant_tensor(node: NodeView) -> onnx.TensorProto | None:
    """A Constant node's `value` tensor (None for other forms of Constant)."""
    return next((attribute.t for attribute in node.proto.attribute
                 if attribute.name == "value" and attribute.type == onnx.AttributeProto.TENSOR), None)
