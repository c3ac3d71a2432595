"""What a handler may ask about the graph: shapes, element types, constants, consumers."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import numpy_helper

from graph.errors import NodeError
from graph.inference import TensorTypes
from graph.views import NodeView, present, text

__all__ = ["GraphContext", "Shape", "dtype_name_and_bytes"]

Shape = tuple[int, ...]
# Constants up to this many elements are read (axes, shapes, clip bounds); larger ones never are.
MAX_CONSTANT_ELEMENTS = 64
# Kept as nodes by runtimes even on constant inputs (QDQ weights stay quantized), or not constant at all.
_NEVER_FOLDED = frozenset({"DequantizeLinear", "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
                           "Multinomial", "Bernoulli", "If", "Loop", "Scan"})
_MISSING = object()


@dataclass
class GraphContext:
    """Shapes and constants of an inferred model, indexed for the op handlers."""

    label: str
    opset: int
    shapes: dict[str, Shape | None]
    elem_types: dict[str, int]
    constants: dict[str, onnx.TensorProto]
    consumers: dict[str, list[int]]
    nodes: list[NodeView]
    batch_size: int = 1
    producers: dict[str, int] = field(default_factory=dict)
    absorbed: set[int] = field(default_factory=set)
    data_dependent: frozenset[str] = frozenset()  # tensors whose size was set to its upper bound
    # Small constants' values as read (None: unreadable), and values computed from shapes: the passes ask for
    # the same few constants again and again, and converting each time cost more than the rest of a lookup.
    _arrays: dict[str, np.ndarray | None] = field(default_factory=dict, repr=False)
    # Answers of the handlers' computations that depend only on a node's attributes and its inputs' dims, by those
    # (graph/ops/window.py's windows): a graph repeats a few kinds of convolution hundreds of times.
    memos: dict[tuple, object] = field(default_factory=dict, repr=False)

    @classmethod
    def from_shaped(cls, shaped, label: str, opset: int) -> GraphContext:
        """The context of a graph.loading.ShapedModel: values computed from shapes count as constants."""
        ctx = cls.from_model(shaped.model, shaped.nodes, shaped.types, label, opset, shaped.batch_size)
        ctx.data_dependent = frozenset(map(text, shaped.data_dependent))
        for raw_name, array in shaped.values.items():
            name = text(raw_name)
            if name and name not in ctx.constants and name not in ctx.data_dependent:
                ctx.constants[name] = _described(name, array)
                ctx._arrays[name] = array
        ctx.fold_constants()
        return ctx

    def fold_constants(self) -> None:
        """Outputs of nodes whose inputs are all constant (or Shape of a known shape) are constants too,
        as a runtime's constant folding makes them; values are kept only where they were computed."""
        constants = self.constants
        for node in self.nodes:
            inputs = node.inputs
            if node.op_type in ("Shape", "Size"):
                real = present(inputs)
                foldable = self.shapes.get(real[0]) is not None if real else False
            elif inputs and inputs[0] and inputs[0] not in constants:
                continue  # (most nodes: a first input that is not constant)
            else:
                foldable = any(inputs) and all(name in constants for name in inputs if name)
            if not foldable or not node.is_default_domain or node.op_type in _NEVER_FOLDED:
                continue
            outputs = [name for name in node.outputs if name and name not in constants]
            if not outputs or any(name in self.data_dependent for name in outputs):
                continue
            for name in outputs:
                shape = self.shapes.get(name)
                if shape is None:
                    continue
                self.constants[name] = onnx.TensorProto(name=name, dims=shape, data_type=self.elem_type(name))

    def is_data_dependent(self, index: int) -> bool:
        """Whether a node reads or writes a tensor whose size depends on input values."""
        node = self.nodes[index]
        return any(name in self.data_dependent for name in present([*node.inputs, *node.outputs]))

    @classmethod
    def from_model(cls, model: onnx.ModelProto, nodes: Sequence[NodeView], types: TensorTypes, label: str, opset: int,
                   batch_size: int = 1) -> GraphContext:
        """The context of `model`, whose nodes are `nodes` (graph.views.node_views) and whose tensors have `types`
        (graph.inference.TensorTypes; '' is never among them)."""
        graph = model.graph
        shapes: dict[str, Shape | None] = {}
        elem_types: dict[str, int] = {}
        for raw_name, (elem_type, dims) in types.items():
            name = raw_name if raw_name.__class__ is str else text(raw_name)
            elem_types[name] = elem_type
            shapes[name] = None if dims is None or None in dims else dims
        constants: dict[str, onnx.TensorProto] = {}
        for tensor in graph.initializer:
            name = text(tensor.name)
            if not name:
                continue
            constants[name] = tensor
            shapes[name] = _tensor_shape(tensor)
            elem_types[name] = tensor.data_type
        nodes = list(nodes)
        consumers: dict[str, list[int]] = {}
        producers: dict[str, int] = {}
        for node in nodes:
            for name in node.outputs:
                if name:
                    producers[name] = node.index
            for name in node.inputs:
                if name:
                    consumers.setdefault(name, []).append(node.index)
            if node.op_type not in _CONSTANT_SOURCES or not node.is_default_domain or not node.outputs \
                    or not node.outputs[0]:
                continue
            tensor = _constant_output(node, constants)
            if tensor is not None:
                constants[node.outputs[0]] = tensor
                shapes[node.outputs[0]] = _tensor_shape(tensor)
                elem_types[node.outputs[0]] = tensor.data_type
        return cls(label, opset, shapes, elem_types, constants, consumers, nodes, batch_size, producers)

    def shape(self, name: str) -> Shape | None:
        return self.shapes.get(name) if name else None

    def producer_op(self, name: str) -> str:
        """The op type of the node that produces tensor `name` ('' for graph inputs and constants)."""
        index = self.producers.get(name)
        return "" if index is None else self.nodes[index].op_type

    def elem_type(self, name: str) -> int:
        return self.elem_types.get(name, onnx.TensorProto.UNDEFINED)

    def is_constant(self, name: str) -> bool:
        return name in self.constants

    def constant_values(self, name: str) -> np.ndarray | None:
        """A small constant's values (a copy), or None when it is not constant, too large or stripped."""
        if name not in self.constants:
            return None
        shape = self.shapes.get(name)
        if shape is None or math.prod(shape) > MAX_CONSTANT_ELEMENTS:
            return None
        if name not in self._arrays:
            self._arrays[name] = _tensor_values(self.constants[name])
        values = self._arrays[name]
        return values.copy() if values is not None and values.size == math.prod(shape) else None

    def operands(self, node: NodeView, required: int, optional: int = 0) -> tuple[str, ...]:
        """The node's inputs, padded with '' for absent optional ones; a wrong count is the node's error."""
        inputs = node.inputs
        if not required <= len(inputs) <= required + optional or not all(inputs[:required]):
            expected = f"{required}" if not optional else f"{required} to {required + optional}"
            raise self.error(node, f"takes {expected} inputs, got {len(inputs)}"
                                   f"{' (some empty)' if len(inputs) >= required else ''}; re-export the model")
        return inputs + ("",) * (required + optional - len(inputs))

    def operand(self, node: NodeView, position: int, required: bool = True) -> str:
        """The node's input at `position` ('' when an optional one is absent); a missing required one is an error."""
        name = node.input(position)
        if required and not name:
            raise self.error(node, f"input {position} is missing (it has {len(node.inputs)} inputs); re-export the model")
        return name

    def ints(self, node: NodeView, name: str, minimum: int | None = None,
             maximum: int | None = None) -> tuple[int, ...] | None:
        """A list-of-ints attribute, or None when absent; another type or a value out of range is the node's error."""
        value = node.attribute(name)
        if value is None:
            return None
        if not isinstance(value, tuple) or not all(isinstance(v, int) for v in value):
            raise self.error(node, f"attribute {name!r} must be a list of ints, got {_describe(value)}")
        if value and ((minimum is not None and min(value) < minimum) or (maximum is not None and max(value) > maximum)):
            raise self.error(node, f"attribute {name!r} values must lie in [{minimum}, {maximum}], got {_describe(value)}")
        return value

    def integer(self, node: NodeView, name: str, default: int, minimum: int, maximum: int) -> int:
        """An int attribute (default when absent); another type or a value out of range is the node's error."""
        value = node.attribute(name, _MISSING)
        if value is _MISSING:
            return default
        if not isinstance(value, int) or not minimum <= value <= maximum:
            raise self.error(node, f"attribute {name!r} must be an int in [{minimum}, {maximum}], got {_describe(value)}")
        return value

    def string(self, node: NodeView, name: str, default: str, choices: tuple[str, ...]) -> str:
        """A string attribute (default when absent or empty) that must be one of `choices`."""
        value = node.attribute(name, _MISSING)
        if value is _MISSING or value == "":
            return default
        if value not in choices:
            raise self.error(node, f"attribute {name!r} must be one of {', '.join(choices)}, got {_describe(value)}")
        return value

    def error(self, node: NodeView, message: str) -> NodeError:
        return NodeError(f"{self.label}: node {node.name!r} ({node.op_type}): {message}")


_CONSTANT_SOURCES = frozenset({"Constant", "Identity", "Cast"})  # the ops _constant_output reads through


def _constant_output(node: NodeView, constants: dict[str, onnx.TensorProto]) -> onnx.TensorProto | None:
    """A Constant's tensor, or a constant reached through Identity or Cast (how exporters share weights)."""
    if node.op_type == "Constant":
        for attribute in node.proto.attribute:
            if text(attribute.name) == "value" and attribute.type == onnx.AttributeProto.TENSOR:
                return attribute.t
        return None
    if node.op_type not in ("Identity", "Cast") or node.input(0) not in constants:
        return None
    source = constants[node.input(0)]
    if node.op_type == "Identity":
        return source
    target_type = node.attribute("to", onnx.TensorProto.UNDEFINED)
    if not isinstance(target_type, int) or not 0 <= target_type < 2**31:
        return None  # a Cast to no type: not a constant this reader can name
    cast = onnx.TensorProto(name=node.outputs[0], dims=source.dims, data_type=target_type)
    if source.data_location != onnx.TensorProto.EXTERNAL and 0 <= math.prod(source.dims) <= MAX_CONSTANT_ELEMENTS:
        try:
            values = numpy_helper.to_array(source).astype(onnx.helper.tensor_dtype_to_np_dtype(target_type))
            return numpy_helper.from_array(values, node.outputs[0])
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
            return cast
    return cast


def _describe(value) -> str:
    """A short one-line description of an attribute value for an error message (never a multi-line proto)."""
    if isinstance(value, (onnx.TensorProto, onnx.GraphProto, onnx.SparseTensorProto, onnx.TypeProto)):
        return f"a {type(value).__name__}"
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


@functools.lru_cache(maxsize=64)
def dtype_name_and_bytes(elem_type: int) -> tuple[str, int]:
    """('float32', 4) for an ONNX element type; ('undefined', 0) when unknown."""
    try:
        dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type))
    except (KeyError, TypeError, ValueError):
        return "undefined", 0
    name = onnx.TensorProto.DataType.Name(elem_type).lower() if elem_type else "undefined"
    return (dtype.name if dtype.name != "object" else name), dtype.itemsize


def _tensor_shape(tensor: onnx.TensorProto) -> Shape | None:
    """A constant's dims; None when one is negative (a corrupt tensor)."""
    dims = tuple(tensor.dims)  # (protobuf's int64s are Python ints)
    return None if dims and min(dims) < 0 else dims


def _tensor_values(tensor: onnx.TensorProto) -> np.ndarray | None:
    """A constant tensor's values; None when they are stored in a file (never opened) or cannot be read."""
    if tensor.data_location == onnx.TensorProto.EXTERNAL:
        return None
    try:
        return numpy_helper.to_array(tensor)
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
        return None


def _described(name: str, array: np.ndarray) -> onnx.TensorProto:
    """A tensor of the array's name, dims and type whose values are kept apart (GraphContext._arrays)."""
    try:
        return onnx.TensorProto(name=name, dims=array.shape, data_type=onnx.helper.np_dtype_to_tensor_dtype(array.dtype))
    except (KeyError, TypeError, ValueError):
        return numpy_helper.from_array(array, name)
