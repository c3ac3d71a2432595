"""The op table: one builder per (ONNX op, opset range), chosen through the ONNX operator schema.

A builder gets a Spec (what is known about one node when it is built) and returns the torch
callable that computes the node. An op whose semantics changed at some opset registers one
builder per version, `since` the schema version that introduced the change; the builder for a
node is the one registered for the newest version not newer than the schema version in effect
at the node's opset (onnx.defs.get_schema(op, opset).since_version).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from estimator.errors import MeasureError
from graph.schemas import op_schema

__all__ = ["Builder", "Fn", "Spec", "build", "builder_for", "register", "supported_ops"]

Fn = Callable[..., Any]


@dataclass
class Spec:
    """What a builder knows about one node when it builds the torch callable."""

    op_type: str
    attrs: dict[str, Any]
    shapes: list[tuple[int, ...] | None]  # input shapes; None for a missing optional input
    static: dict[int, np.ndarray]  # inputs whose values are known at build time
    opset: int
    out_shapes: list[tuple[int, ...]] | None = None

    def attr(self, name: str, default: Any = None) -> Any:
        return self.attrs.get(name, default)

    def static_ints(self, position: int) -> list[int] | None:
        values = self.static.get(position)
        return None if values is None else [int(v) for v in np.asarray(values).reshape(-1)]

    def required_ints(self, position: int, what: str) -> list[int]:
        """static_ints, or MeasureError saying that `what` must be a constant."""
        values = self.static_ints(position)
        if values is None:
            raise MeasureError(f"{self.op_type}: {what} must be a constant")
        return values

    def static_float(self, position: int) -> float | None:
        values = self.static.get(position)
        if values is None or np.asarray(values).size != 1:
            return None
        return float(np.asarray(values).reshape(-1)[0])

    def rank(self, position: int = 0) -> int:
        shape = self.shapes[position] if position < len(self.shapes) else None
        if shape is None:
            raise MeasureError(f"{self.op_type}: the shape of input {position} is unknown")
        return len(shape)

    def axis(self, value: int, position: int = 0) -> int:
        return value % self.rank(position) if self.rank(position) else 0


Builder = Callable[[Spec], Fn]
_BUILDERS: dict[str, list[tuple[int, Builder]]] = {}


def register(op_types: str | tuple[str, ...], since: int = 1) -> Callable[[Builder], Builder]:
    """Decorator: the builder of `op_types` from schema version `since` until the next registered one."""
    names = (op_types,) if isinstance(op_types, str) else op_types

    def add(builder: Builder) -> Builder:
        for name in names:
            versions = _BUILDERS.setdefault(name, [])
            versions.append((since, builder))
            versions.sort(key=lambda entry: entry[0])
        return builder
    return add


def _schema_version(op_type: str, opset: int) -> int | None:
    schema = op_schema(op_type, opset)
    return None if schema is None else int(schema.since_version)


def builder_for(op_type: str, opset: int) -> Builder | None:
    """The builder for `op_type` at `opset`, or None when the table has none for the op."""
    versions = _BUILDERS.get(op_type)
    if not versions:
        return None
    version = _schema_version(op_type, opset)
    if version is None:  # no schema at this opset: the op's first registered builder
        return versions[0][1]
    chosen = versions[0][1]
    for since, builder in versions:
        if since <= version:
            chosen = builder
    return chosen


def supported_ops() -> frozenset[str]:
    """The op types the table can build."""
    return frozenset(_BUILDERS)


def build(spec: Spec) -> Fn:
    """The torch callable for one node; MeasureError when the op or its configuration is not supported."""
    builder = builder_for(spec.op_type, spec.opset)
    if builder is None:
        raise MeasureError(f"op {spec.op_type} is not supported by the PyTorch backend "
                           "(no torch equivalent in its table)")
    try:
        return builder(spec)
    except MeasureError:
        raise
    except (KeyError, IndexError, TypeError, ValueError) as error:
        raise MeasureError(f"{spec.op_type}: cannot build the torch call ({type(error).__name__}: {error})") from None
