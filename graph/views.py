"""A model's nodes as read once from protobuf: names as text, attributes as Python values, shared where equal.

graph/loading.py reads a model's nodes into these views when it loads it; the schema check, the shape pass, the batch
axis, the context and the working graph read the views, never the nodes' protobuf fields again (protobuf hands out a
new object for every field read, and those reads were most of the cost of every pass that made them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import NamedTuple

import onnx

__all__ = ["DEFAULT_DOMAINS", "NodeView", "attribute_value", "attributes_key", "input_at", "node_views", "present",
           "text"]

DEFAULT_DOMAINS = ("", "ai.onnx")


def text(value: str | bytes) -> str:
    """A protobuf string field as text: invalid UTF-8 (which protobuf hands back as bytes) shows as \\xNN escapes.

    Escapes keep distinct names distinct and make the damage visible where the name is printed.
    """
    return value if isinstance(value, str) else bytes(value).decode("utf-8", "backslashreplace")


def present(names: Iterable[str]) -> list[str]:
    """The tensor names that are there: ONNX writes '' for an omitted optional input or output.

    Every name-keyed map of the graph (shapes, constants, producers, consumers) leaves '' out, so a lookup
    of an omitted input finds nothing; code that indexes a map or counts real inputs filters with this.
    """
    return list(filter(None, names))


def _texts(names: Iterable[str | bytes]) -> tuple[str, ...]:
    """The names as text (see `text`); str.join takes only str, so it tells in one C call that all already are."""
    names = tuple(names)
    try:
        "".join(names)
    except TypeError:
        return tuple(map(text, names))
    return names


def input_at(names: Sequence[str], position: int) -> str:
    """The name at `position`, or '' when that input is omitted: written as '' or left off the end (ONNX allows
    both for optional inputs; a hostile model does it to required ones too)."""
    return names[position] if 0 <= position < len(names) else ""


_NO_ATTRIBUTES: Mapping[str, object] = MappingProxyType({})  # shared by every node without attributes (most)


class NodeView(NamedTuple):
    """One node with its resolved unique name, graph position and names decoded (see `text`).

    A named tuple: a view is made for every node of every model read, and a tuple is made several times faster
    than a frozen dataclass."""

    proto: onnx.NodeProto
    name: str
    index: int  # (its place in the graph: this field hides tuple.index)
    op_type: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...] = ()
    domain: str = ""
    # name -> Python value (see attribute_value), read once: the handlers and the working graph both read them
    attributes: Mapping[str, object] = _NO_ATTRIBUTES
    attributes_key: tuple[bytes, ...] = ()  # the attributes as a dict key (see attributes_key)
    has_subgraphs: bool = False  # an attribute holds a graph (If, Loop, Scan bodies)

    @property
    def is_default_domain(self) -> bool:
        return self.domain in DEFAULT_DOMAINS

    def input(self, position: int) -> str:
        """The input at `position`, '' when it is omitted (see `input_at`)."""
        return input_at(self.inputs, position)

    def attribute(self, name: str, default=None):
        """The attribute's Python value, or `default` when the node does not set it (or sets no value)."""
        value = self.attributes.get(name)
        return default if value is None else value

    def attribute_names(self) -> list[str]:
        return [text(attribute.name) for attribute in self.proto.attribute]


def node_views(graph: onnx.GraphProto) -> list[NodeView]:
    """The views of the graph's nodes, in order: read once per model (graph/loading.py), as protobuf's field reads
    are most of the cost of every pass that would read the nodes again. Nodes with the same attributes share one
    read-only mapping of them (a graph repeats its kernels, strides and perms; reading them field by field cost
    several times more than their bytes)."""
    protos = list(graph.node)
    op_types = [op if (op := proto.op_type).__class__ is str else text(op) for proto in protos]
    names = _unique_names(op_types, [name if (name := proto.name).__class__ is str else text(name) for proto in protos])
    read: dict[tuple[bytes, ...], tuple[Mapping[str, object], bool]] = {(): (_NO_ATTRIBUTES, False)}
    views = []
    for index, proto in enumerate(protos):
        key = attributes_key(proto)
        found = read.get(key)
        if found is None:
            read[key] = found = (MappingProxyType(dict(_attribute_values(proto))),
                                 any(attribute.type in _GRAPH_TYPES for attribute in proto.attribute))
        attributes, has_subgraphs = found
        domain = proto.domain
        views.append(NodeView(proto, names[index], index, op_types[index], _texts(proto.input),
                              _texts(proto.output), domain if domain.__class__ is str else text(domain), attributes,
                              key, has_subgraphs))
    return views


_GRAPH_TYPES = (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)


def attributes_key(proto: onnx.NodeProto) -> tuple[bytes, ...]:
    """The node's attributes as a dict key: their bytes, in order (equal keys, equal attribute values)."""
    return tuple([attribute.SerializeToString() for attribute in proto.attribute])


def _attribute_values(proto: onnx.NodeProto) -> Mapping[str, object]:
    """The node's attributes by name (a name given twice: the first one's value)."""
    if not proto.attribute:
        return _NO_ATTRIBUTES
    values: dict[str, object] = {}
    for attribute in proto.attribute:
        name = text(attribute.name)
        if name not in values:
            values[name] = attribute_value(attribute)
    return values


def attribute_value(attribute: onnx.AttributeProto):
    """A scalar or list attribute as plain Python; tensors and graphs as their protobuf."""
    kind = attribute.type
    if kind == onnx.AttributeProto.INT:
        return int(attribute.i)
    if kind == onnx.AttributeProto.FLOAT:
        return float(attribute.f)
    if kind == onnx.AttributeProto.STRING:
        return attribute.s.decode("utf-8", "replace")
    if kind == onnx.AttributeProto.INTS:
        return tuple(int(v) for v in attribute.ints)
    if kind == onnx.AttributeProto.FLOATS:
        return tuple(float(v) for v in attribute.floats)
    if kind == onnx.AttributeProto.STRINGS:
        return tuple(v.decode("utf-8", "replace") for v in attribute.strings)
    if kind == onnx.AttributeProto.TENSOR:
        return attribute.t
    if kind == onnx.AttributeProto.GRAPH:
        return attribute.g
    return None


def _unique_names(op_types: list[str], own_names: list[str]) -> list[str]:
    """Each node's own name when it is non-empty and unique, else `<op_type>_<index>`."""
    counts: dict[str, int] = {}
    for name in own_names:
        if name:
            counts[name] = counts.get(name, 0) + 1
    names: list[str] = []
    taken = {name for name, count in counts.items() if count == 1}
    for index, (op_type, own) in enumerate(zip(op_types, own_names, strict=True)):
        if own and counts[own] == 1:
            names.append(own)
            continue
        base = f"{own or op_type}_{index}"
        candidate = base
        while candidate in taken:
            candidate += "_"
        taken.add(candidate)
        names.append(candidate)
    return names
