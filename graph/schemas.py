"""Check every node against its operator schema at the model's opset, as ONNX Runtime does when it loads.

ONNX's shape inference is lenient (strict_mode off) and accepts, e.g., Split's num_outputs attribute
(opset 18) in an opset-17 model, which ONNX Runtime refuses to load. Reading such a model would
estimate a model that cannot run, so it is an error that names the node and the opset.
"""

from __future__ import annotations

import functools

import onnx
from onnx import defs

from graph.errors import ModelLoadError

__all__ = ["check_schemas"]


def check_schemas(model: onnx.ModelProto, label: str) -> None:
    """Raise ModelLoadError at the first default-domain node its opset's schema does not allow."""
    opset = next((int(entry.version) for entry in model.opset_import if entry.domain in ("", "ai.onnx")), None)
    if opset is None:
        return
    for index, node in enumerate(model.graph.node):
        if node.domain not in ("", "ai.onnx"):
            continue
        problem = _problem(node, opset)
        if problem:
            name = node.name or f"{node.op_type}_{index}"
            raise ModelLoadError(f"{label}: node {name!r} ({node.op_type}): {problem}; ONNX Runtime would refuse "
                                 f"to load this model: re-export it at one consistent opset")


def _problem(node: onnx.NodeProto, opset: int) -> str:
    schema = _schema(node.op_type, opset)
    if schema is None:
        first = _schema(node.op_type, defs.onnx_opset_version())
        since = f" (it exists from opset {first.since_version})" if first is not None else ""
        return f"no operator {node.op_type} in opset {opset}{since}"
    for attribute in node.attribute:
        if attribute.name not in schema.attributes:
            newer = _schema(node.op_type, defs.onnx_opset_version())
            since = ""
            if newer is not None and attribute.name in newer.attributes:
                since = f" (it is from opset {_first_with_attribute(node.op_type, attribute.name, opset)})"
            return f"attribute {attribute.name!r} is not part of {node.op_type} in opset {opset}{since}"
    inputs = len(node.input)
    while inputs and not node.input[inputs - 1]:
        inputs -= 1
    if inputs > schema.max_input:
        return f"{inputs} inputs, but {node.op_type} takes at most {schema.max_input} in opset {opset}"
    if inputs < schema.min_input:
        return f"{inputs} inputs, but {node.op_type} needs at least {schema.min_input} in opset {opset}"
    if len(node.output) > schema.max_output:
        return f"{len(node.output)} outputs, but {node.op_type} has at most {schema.max_output} in opset {opset}"
    return ""


@functools.lru_cache(maxsize=1024)
def _schema(op_type: str, opset: int) -> defs.OpSchema | None:
    try:
        return defs.get_schema(op_type, opset, "")
    except defs.SchemaError:
        return None


def _first_with_attribute(op_type: str, attribute: str, after: int) -> int:
    for version in range(after + 1, defs.onnx_opset_version() + 1):
        schema = _schema(op_type, version)
        if schema is not None and attribute in schema.attributes:
            return schema.since_version
    return defs.onnx_opset_version()
