"""The state of graph/shapes.py's pass: the types and values known so far per graph, and their conversions.

A Scope holds what the pass has found in one graph (a subgraph's scope looks outward for the rest) and the answers
it memoises per graph: ONNX's per-node inference and the reference ops, keyed by what decides them.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import onnx
from onnx import helper, numpy_helper

from graph.shapes_custom import Dims

__all__ = ["MAX_VALUE_ELEMENTS", "Scope", "Tensor", "from_type", "is_complete", "readable", "small_array", "values_key"]

# Tensors up to this many elements get their values computed (shape arithmetic, scales, masks' sizes).
MAX_VALUE_ELEMENTS = 4096


class Tensor(NamedTuple):
    """A tensor's element type and dims (a named tuple: the pass makes one for every tensor of the graph)."""

    elem_type: int
    dims: Dims | None  # None: rank unknown; a None dim: size unknown


class Scope:
    """Types and values known so far in one graph (and, by lookup, the graphs around it)."""

    def __init__(self, opsets: dict[str, int], outer: Scope | None = None) -> None:
        self.opsets = opsets
        self.outer = outer
        self.tensors: dict[str, Tensor] = {}
        self.values: dict[str, np.ndarray] = {}
        # The graph's initializers, read as arrays only when a value is asked of them (few ever are: weights feed no
        # shape arithmetic)
        self.initializers: dict[str, onnx.TensorProto] = {}
        self.tainted: set[str] = set()
        self.opset_ids = [helper.make_opsetid(domain, version) for domain, version in opsets.items()]
        self._type_protos: dict[tuple[int, Dims | None], onnx.TypeProto] = {}
        # (op, attributes, input types, input values, output count) -> ONNX's per-node result: repeated blocks
        # (a transformer's layers, a detector's heads) ask the same question many times. Shared with inner scopes.
        self.inferred: dict[tuple, tuple[Tensor | None, ...]] = outer.inferred if outer is not None else {}
        # (op, attributes, input values) -> the reference implementation's outputs (None: it could not run them).
        self.evaluated: dict[tuple, tuple[np.ndarray | None, ...] | None] = \
            outer.evaluated if outer is not None else {}
        # Constant nodes' attributes (NodeView.attributes_key) -> their small array (graph/shapes.py's _constant_array)
        self.constants: dict[tuple[bytes, ...], object] = outer.constants if outer is not None else {}
        if outer is None:  # the graph's own scope, asked for every node: its lookups are the dicts' own
            self.tensor = self.tensors.get
            self.is_tainted = self.tainted.__contains__

    def type_proto(self, tensor: Tensor) -> onnx.TypeProto:
        """The tensor's type as ONNX's per-node inference takes it (one proto per type: most recur)."""
        key = (tensor.elem_type, tensor.dims)
        found = self._type_protos.get(key)
        if found is None:
            self._type_protos[key] = found = _to_type(tensor)
        return found

    def tensor(self, name: str) -> Tensor | None:
        if name in self.tensors:
            return self.tensors[name]
        return self.outer.tensor(name) if self.outer is not None else None

    def value(self, name: str) -> np.ndarray | None:
        if name in self.values:
            return self.values[name]
        if name in self.initializers:
            array = small_array(self.initializers[name])
            if array is not None:
                self.values[name] = array
            return array
        return self.outer.value(name) if self.outer is not None else None

    def is_tainted(self, name: str) -> bool:
        return name in self.tainted or (self.outer is not None and self.outer.is_tainted(name))


def is_complete(tensor: Tensor) -> bool:
    return tensor.dims is not None and all(d is not None for d in tensor.dims)


def from_type(type_proto: onnx.TypeProto) -> Tensor:
    tensor_type = type_proto.tensor_type
    if not tensor_type.HasField("shape"):
        return Tensor(tensor_type.elem_type, None)
    dims = tuple(int(d.dim_value) if d.HasField("dim_value") and d.dim_value >= 0 else None
                 for d in tensor_type.shape.dim)
    return Tensor(tensor_type.elem_type, dims)


def _to_type(tensor: Tensor) -> onnx.TypeProto:
    if tensor.dims is None:
        type_proto = onnx.TypeProto()
        type_proto.tensor_type.elem_type = tensor.elem_type
        return type_proto
    return helper.make_tensor_type_proto(tensor.elem_type, [d if d is not None else None for d in tensor.dims])


def readable(tensor: onnx.TensorProto) -> bool:
    """Whether the tensor's values lie in the model and are few enough to read (MAX_VALUE_ELEMENTS)."""
    return tensor.data_location != onnx.TensorProto.EXTERNAL and math.prod(tensor.dims) <= MAX_VALUE_ELEMENTS


def small_array(tensor: onnx.TensorProto) -> np.ndarray | None:
    if not readable(tensor):
        return None
    try:
        array = numpy_helper.to_array(tensor)
    except (ValueError, TypeError, KeyError):
        return None
    return array if array.size == math.prod(tensor.dims) else None


def values_key(values: list[np.ndarray | None]) -> tuple | None:
    """The values as a dict key; None (do not memoise) when one holds Python objects, whose bytes are addresses."""
    if any(value is not None and value.dtype.hasobject for value in values):
        return None
    return tuple([None if value is None else (value.dtype.str, value.shape, value.tobytes()) for value in values])
