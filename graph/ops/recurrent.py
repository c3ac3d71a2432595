"""LSTM, GRU and RNN -> RecurrentLayer (sequence, batch rows, input and hidden features, directions)."""

from __future__ import annotations

import dataclasses

from graph.context import GraphContext
from graph.ops.other import handle_other
from graph.records import OtherLayer, RecurrentLayer, UnmodeledNode
from graph.views import NodeView

__all__ = ["handle_recurrent"]

_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def handle_recurrent(ctx: GraphContext, node: NodeView) -> RecurrentLayer | UnmodeledNode:
    layer = handle_other(ctx, node)
    if not isinstance(layer, OtherLayer):
        return layer
    x_shape = ctx.shape(ctx.operand(node, 0))
    w_shape = ctx.shape(ctx.operand(node, 1))
    if x_shape is None or w_shape is None or len(x_shape) != 3 or len(w_shape) != 3:
        raise ctx.error(node, f"needs a 3-D input and weight, got {x_shape} and {w_shape}")
    gates = _GATES[node.op_type]
    directions = 2 if node.attribute("direction", "forward") == "bidirectional" else 1
    hidden = int(node.attribute("hidden_size", w_shape[1] // gates))
    sequence, rows = (x_shape[1], x_shape[0]) if node.attribute("layout", 0) else (x_shape[0], x_shape[1])
    if w_shape != (directions, gates * hidden, x_shape[2]):
        raise ctx.error(node, f"weight {w_shape} does not fit {directions} direction(s), {gates} gates of "
                              f"hidden_size {hidden} and {x_shape[2]} input features")
    fields = {field.name: getattr(layer, field.name) for field in dataclasses.fields(OtherLayer)}
    return RecurrentLayer(**fields, sequence_length=sequence, rows=rows, input_features=x_shape[2], hidden=hidden,
                          directions=directions, gates=gates, has_bias=bool(node.input(3)))
