"""A model's graph as plain typed records, for backends that interpret it node by node.

Past this module nothing sees protobuf: tensors are numpy arrays (or None where the payload was
stripped or lives in an external file), attributes are Python values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from graph.build import has_payload
from graph.loading import ModelSource, load_model
from graph.views import attribute_value

__all__ = ["GraphRecord", "InputRecord", "NodeRecord", "TensorRecord", "onnx_dtype_name", "read_graph"]

DEFAULT_OPSET = 17  # for a graph that imports no default-domain opset


@dataclass(frozen=True)
class TensorRecord:
    """An initializer: its dims and numpy dtype name, and its values when the model carries them."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    values: np.ndarray | None


@dataclass(frozen=True)
class InputRecord:
    """A graph input that is not an initializer; symbolic or unknown dims read 0."""

    name: str
    shape: tuple[int, ...]
    dtype: str


@dataclass(frozen=True)
class NodeRecord:
    """One node; a missing optional input is ''. Tensor attributes are numpy arrays, subgraphs None."""

    name: str
    op_type: str
    domain: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attributes: Mapping[str, Any]


@dataclass(frozen=True)
class GraphRecord:
    """The nodes (in graph order), inputs, outputs and initializers of a model's main graph."""

    name: str
    opset: int
    inputs: tuple[InputRecord, ...]
    outputs: tuple[str, ...]
    initializers: tuple[TensorRecord, ...]
    nodes: tuple[NodeRecord, ...]


def read_graph(model: ModelSource) -> GraphRecord:
    """The graph of a ModelProto as given, or of a path or bytes loaded without large payloads."""
    proto = model if isinstance(model, onnx.ModelProto) else load_model(model).proto
    graph = proto.graph
    opset = next((entry.version for entry in proto.opset_import if entry.domain in ("", "ai.onnx")), DEFAULT_OPSET)
    initializers = tuple(_tensor_record(tensor) for tensor in graph.initializer)
    known = {tensor.name for tensor in graph.initializer}
    inputs = tuple(
        InputRecord(value.name, tuple(int(d.dim_value) for d in value.type.tensor_type.shape.dim),
                    onnx_dtype_name(value.type.tensor_type.elem_type))
        for value in graph.input if value.name not in known
    )
    nodes = tuple(
        NodeRecord(node.name, node.op_type, node.domain, tuple(node.input), tuple(node.output),
                   {attribute.name: _attribute(attribute) for attribute in node.attribute})
        for node in graph.node
    )
    return GraphRecord(graph.name, int(opset), inputs, tuple(value.name for value in graph.output), initializers, nodes)


def onnx_dtype_name(elem_type: int) -> str:
    """The numpy dtype name of an ONNX element type (e.g. Cast's `to`): 1 -> "float32"."""
    return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type)).name


def _tensor_record(tensor: onnx.TensorProto) -> TensorRecord:
    values = numpy_helper.to_array(tensor) if has_payload(tensor) else None
    return TensorRecord(tensor.name, tuple(tensor.dims), onnx_dtype_name(tensor.data_type), values)


def _attribute(attribute: onnx.AttributeProto) -> Any:
    value = attribute_value(attribute)
    if isinstance(value, onnx.TensorProto):
        if has_payload(value):
            return numpy_helper.to_array(value)
        return np.ones(tuple(value.dims), dtype=onnx.helper.tensor_dtype_to_np_dtype(value.data_type))
    if isinstance(value, onnx.GraphProto):
        return None  # subgraphs (If, Loop, Scan): no backend interprets them
    return value
