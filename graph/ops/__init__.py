"""One handler per op type, registered in HANDLERS.

A new op family is its handler here; when it carries dims of its own, also its record (a subclass of
OtherLayer in graph/records.py) with one registration for its kind (graph.records.layer_kind) and one for
its feature columns (graph/frames.py's op features). Every other per-record function (layer_row, the one-node
model builder, the shape summary, the PyTorch runner) dispatches on the record type and treats it as the
OtherLayer it is."""

from __future__ import annotations

from collections.abc import Callable

from graph.context import GraphContext
from graph.ops.common import unmodeled
from graph.ops.conv import handle_conv, handle_conv_transpose
from graph.ops.dense import handle_einsum, handle_gemm, handle_matmul
from graph.ops.other import FREE_OPS, KNOWN_CUSTOM_OPS, handle_other, other_unmodeled
from graph.ops.pool import handle_global_pool, handle_pool, handle_reduce
from graph.ops.recurrent import handle_recurrent
from graph.records import Layer, UnmodeledNode
from graph.views import NodeView, present

__all__ = ["CUSTOM_HANDLERS", "FREE_OPS", "HANDLERS", "KNOWN_CUSTOM_OPS", "handle_node", "unmodeled_reason"]

Handler = Callable[[GraphContext, NodeView], Layer | UnmodeledNode]

_NOT_MODELED = {
    "DeformConv": "deformable convolution is not modeled",
    "LpPool": "Lp pooling is not modeled",
    "GlobalLpPool": "Lp pooling is not modeled",
    "MaxRoiPool": "RoI pooling is not modeled",
    "MaxUnpool": "max unpooling is not modeled",
}

# Ops whose every output is optional (a model may keep only an LSTM's last hidden state, omitting Y).
_OPTIONAL_OUTPUTS = frozenset({"LSTM", "GRU", "RNN"})

HANDLERS: dict[str, Handler] = {
    "Conv": handle_conv,
    "QLinearConv": handle_conv,
    "ConvInteger": handle_conv,
    "ConvTranspose": handle_conv_transpose,
    "MaxPool": handle_pool,
    "AveragePool": handle_pool,
    "GlobalMaxPool": handle_global_pool,
    "GlobalAveragePool": handle_global_pool,
    "ReduceMean": handle_reduce,
    "ReduceMax": handle_reduce,
    "Gemm": handle_gemm,
    "MatMul": handle_matmul,
    "QLinearMatMul": handle_matmul,
    "MatMulInteger": handle_matmul,
    "Einsum": handle_einsum,
    "LSTM": handle_recurrent,
    "GRU": handle_recurrent,
    "RNN": handle_recurrent,
}

# ONNX Runtime's int8 ops (what its quantizer writes in QOperator form); its other elementwise int8 ops
# (QLinearAdd, ...) are KNOWN_CUSTOM_OPS and go to handle_other.
CUSTOM_HANDLERS: dict[tuple[str, str], Handler] = {
    ("com.microsoft", "QGemm"): handle_gemm,
    ("com.microsoft", "QLinearGlobalAveragePool"): handle_global_pool,
    ("com.microsoft", "QLinearAveragePool"): handle_pool,
}


def handle_node(ctx: GraphContext, node: NodeView) -> Layer | UnmodeledNode:
    """Dispatch one node to its handler; unsupported variants come back as UnmodeledNode."""
    if node.is_default_domain:
        if node.op_type in _NOT_MODELED:
            return unmodeled(node, _NOT_MODELED[node.op_type])
        handler = HANDLERS.get(node.op_type)
    else:
        handler = CUSTOM_HANDLERS.get((node.domain, node.op_type))
    if handler is not None:
        if not present(node.outputs) or (not node.outputs[0] and node.op_type not in _OPTIONAL_OUTPUTS):
            raise ctx.error(node, "has no output; re-export the model")
        return handler(ctx, node)
    return handle_other(ctx, node)


def unmodeled_reason(ctx: GraphContext, node: NodeView) -> UnmodeledNode | None:
    """What handle_node would say of a node it leaves unmodeled (None: it models it), building the record only
    where that is the way to know (ops with their own handler)."""
    if node.is_default_domain:
        if node.op_type in _NOT_MODELED:
            return unmodeled(node, _NOT_MODELED[node.op_type])
        if node.op_type not in HANDLERS:
            return other_unmodeled(ctx, node)
    elif (node.domain, node.op_type) not in CUSTOM_HANDLERS:
        return other_unmodeled(ctx, node)
    record = handle_node(ctx, node)
    return record if isinstance(record, UnmodeledNode) else None
