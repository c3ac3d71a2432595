"""One handler per op type, registered in HANDLERS."""

from __future__ import annotations

from collections.abc import Callable

from graph.context import GraphContext, NodeView
from graph.ops.common import unmodeled
from graph.ops.conv import handle_conv
from graph.ops.dense import handle_gemm, handle_matmul
from graph.ops.other import FREE_OPS, handle_other
from graph.ops.pool import handle_global_pool, handle_pool, handle_reduce
from graph.records import Layer, UnmodeledNode

__all__ = ["FREE_OPS", "HANDLERS", "handle_node"]

Handler = Callable[[GraphContext, NodeView], Layer | UnmodeledNode]

_NOT_MODELED = {
    "ConvTranspose": "transposed convolution is not modeled",
    "ConvInteger": "quantized convolution is not modeled",
    "QLinearConv": "quantized convolution is not modeled",
    "QLinearMatMul": "quantized matmul is not modeled",
    "MatMulInteger": "quantized matmul is not modeled",
    "DeformConv": "deformable convolution is not modeled",
    "LpPool": "Lp pooling is not modeled",
    "GlobalLpPool": "Lp pooling is not modeled",
    "MaxRoiPool": "RoI pooling is not modeled",
    "MaxUnpool": "max unpooling is not modeled",
}

HANDLERS: dict[str, Handler] = {
    "Conv": handle_conv,
    "MaxPool": handle_pool,
    "AveragePool": handle_pool,
    "GlobalMaxPool": handle_global_pool,
    "GlobalAveragePool": handle_global_pool,
    "ReduceMean": handle_reduce,
    "ReduceMax": handle_reduce,
    "Gemm": handle_gemm,
    "MatMul": handle_matmul,
}


def handle_node(ctx: GraphContext, node: NodeView) -> Layer | UnmodeledNode:
    """Dispatch one node to its handler; unsupported variants come back as UnmodeledNode."""
    if node.proto.domain in ("", "ai.onnx"):
        if node.op_type in _NOT_MODELED:
            return unmodeled(node, _NOT_MODELED[node.op_type])
        handler = HANDLERS.get(node.op_type)
        if handler is not None:
            return handler(ctx, node)
    return handle_other(ctx, node)
