"""Check every node against its operator schema at the model's opset, as ONNX Runtime does when it loads.

ONNX's shape inference is lenient (strict_mode off) and accepts, e.g., Split's num_outputs attribute
(opset 18) in an opset-17 model, which ONNX Runtime refuses to load. Reading such a model would
estimate a model that cannot run, so it is an error that names the node and the opset.

An input written as '' is omitted (ONNX's convention for optional inputs). Omitting a required one (Add's
A, Clip's X) or one of a variadic list (a Concat or Sum operand) is an error here too: ONNX Runtime refuses the
first at load and fails (or crashes) on the second when it runs.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import onnx
from onnx import defs

from graph.errors import ModelLoadError, NodeError
from graph.views import DEFAULT_DOMAINS, NodeView, text

__all__ = ["check_schemas", "op_schema"]

_TYPE_NAMES = {int(value): name.lower() for name, value in onnx.AttributeProto.AttributeType.items()}


def check_schemas(model: onnx.ModelProto, label: str, nodes: Sequence[NodeView]) -> None:
    """Raise ModelLoadError at the first default-domain node its opset's schema does not allow (`nodes`: the
    model's graph.views.node_views)."""
    opset = next((int(entry.version) for entry in model.opset_import if text(entry.domain) in ("", "ai.onnx")), None)
    if opset is None:
        return
    # Nodes alike in what the schema rules on (op, operand counts, attributes) are allowed once: a graph repeats a
    # few dozen such kinds.
    allowed: set[tuple[str, int, int, tuple[bytes, ...]]] = set()
    for index, node in enumerate(nodes):
        if node.domain not in DEFAULT_DOMAINS:
            continue
        kind = (node.op_type, len(node.inputs), len(node.outputs), node.attributes_key)
        if kind in allowed:
            continue
        proto, op_type = node.proto, node.op_type
        if "" not in node.inputs and _plainly_allowed(proto, op_type, opset):
            allowed.add(kind)
            continue
        wrong_type = _wrong_attribute_type(proto, op_type, opset)
        if wrong_type:
            name = text(proto.name) or f"{op_type}_{index}"
            raise NodeError(f"{label}: node {name!r} ({op_type}): {wrong_type}; re-export the model")
        problem = _problem(proto, op_type, opset)
        if problem:
            name = text(proto.name) or f"{op_type}_{index}"
            raise ModelLoadError(f"{label}: node {name!r} ({op_type}): {problem}; ONNX Runtime would refuse "
                                 f"to load this model: re-export it at one consistent opset")
        omitted = _omitted_required_input(proto, op_type, opset) if "" in node.inputs else ""
        if omitted:
            name = text(proto.name) or f"{op_type}_{index}"
            raise NodeError(f"{label}: node {name!r} ({op_type}): {omitted}; ONNX Runtime cannot run this model: "
                            "re-export it")


@dataclass(frozen=True)
class _Limits:
    """What a schema allows a node, read once per op and opset (reading a schema's fields is slow)."""

    attribute_types: dict[str, int]
    inputs: tuple[int, int]  # (fewest, most)
    outputs: tuple[int, int]


@functools.lru_cache(maxsize=1024)
def _limits(op_type: str, opset: int) -> _Limits | None:
    schema = op_schema(op_type, opset)
    if schema is None:
        return None
    return _Limits(_attribute_types(op_type, opset), (schema.min_input, schema.max_input),
                   (schema.min_output, schema.max_output))


def _plainly_allowed(node: onnx.NodeProto, op_type: str, opset: int) -> bool:
    """Whether a node without omitted inputs is allowed without a closer look: known op, input and output counts in
    range, every attribute declared with its type. Anything else is looked at closely (and named) below."""
    limits = _limits(op_type, opset)
    if limits is None:
        return False
    if not (limits.inputs[0] <= len(node.input) <= limits.inputs[1]
            and limits.outputs[0] <= len(node.output) <= limits.outputs[1]):
        return False
    types = limits.attribute_types
    return all(types.get(attribute.name) == attribute.type for attribute in node.attribute)


def _problem(node: onnx.NodeProto, op_type: str, opset: int) -> str:
    schema = op_schema(op_type, opset)
    if schema is None:
        first = op_schema(op_type, defs.onnx_opset_version())
        since = f" (it exists from opset {first.since_version})" if first is not None else ""
        return f"no operator {op_type} in opset {opset}{since}"
    attribute_types = _attribute_types(op_type, opset)
    for attribute in node.attribute:
        name = text(attribute.name)
        if name not in attribute_types:
            newer = op_schema(op_type, defs.onnx_opset_version())
            since = ""
            if newer is not None and name in newer.attributes:
                since = f" (it is from opset {_first_with_attribute(op_type, name, opset)})"
            return f"attribute {name!r} is not part of {op_type} in opset {opset}{since}"

    inputs = len(node.input)
    while inputs and not node.input[inputs - 1]:
        inputs -= 1
    if inputs > schema.max_input:
        return f"{inputs} inputs, but {op_type} takes at most {schema.max_input} in opset {opset}"
    if inputs < schema.min_input:
        return f"{inputs} inputs, but {op_type} needs at least {schema.min_input} in opset {opset}"
    if len(node.output) > schema.max_output:
        return f"{len(node.output)} outputs, but {op_type} has at most {schema.max_output} in opset {opset}"
    if len(node.output) < schema.min_output:
        return f"{len(node.output)} outputs, but {op_type} has at least {schema.min_output} in opset {opset}"
    return ""


def _omitted_required_input(node: onnx.NodeProto, op_type: str, opset: int) -> str:
    """A required input written as '' (an omitted one), or '' in a homogeneous variadic list."""
    schema = op_schema(op_type, opset)
    formal = list(schema.inputs) if schema is not None else []
    for position, name in enumerate(node.input):
        if name or not formal:
            continue
        parameter = formal[min(position, len(formal) - 1)]
        option = parameter.option
        if position >= len(formal) and option != _VARIADIC:
            continue  # too many inputs: _problem says so
        if option == _SINGLE:
            return f"input {position} is missing: its name is empty, but {parameter.name} is required"
        if option == _VARIADIC and parameter.is_homogeneous:
            return f"input {position} is missing: its name is empty, but none of {parameter.name} may be omitted"
    return ""


_SINGLE = defs.OpSchema.FormalParameterOption.Single
_VARIADIC = defs.OpSchema.FormalParameterOption.Variadic


def _wrong_attribute_type(node: onnx.NodeProto, op_type: str, opset: int) -> str:
    """A declared attribute of another type than the schema's (a group given as a string, a list or a float)."""
    if not node.attribute:
        return ""
    attribute_types = _attribute_types(op_type, opset)
    for attribute in node.attribute:
        name = text(attribute.name)
        if name in attribute_types and int(attribute.type) != attribute_types[name]:
            expected = attribute_types[name]
            return (f"attribute {name!r} must be {_TYPE_NAMES.get(expected, '?')}, "
                    f"got {_TYPE_NAMES.get(int(attribute.type), 'no value')}")
    return ""


@functools.lru_cache(maxsize=1024)
def _attribute_types(op_type: str, opset: int) -> dict[str, int]:
    """The attribute names and types of `op_type`'s schema at `opset` (empty: no such op), read once: the schema
    builds its attribute map anew on each access."""
    schema = op_schema(op_type, opset)
    return {} if schema is None else {name: int(attribute.type) for name, attribute in schema.attributes.items()}


@functools.lru_cache(maxsize=1024)
def op_schema(op_type: str, opset: int) -> defs.OpSchema | None:
    """The default-domain schema of `op_type` in effect at `opset` (None: no such op), looked up once."""
    try:
        return defs.get_schema(op_type, opset, "")
    except defs.SchemaError:
        return None


def _first_with_attribute(op_type: str, attribute: str, after: int) -> int:
    for version in range(after + 1, defs.onnx_opset_version() + 1):
        schema = op_schema(op_type, version)
        if schema is not None and attribute in schema.attributes:
            return schema.since_version
    return defs.onnx_opset_version()
