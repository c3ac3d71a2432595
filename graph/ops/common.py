"""Small helpers every op handler uses."""

from __future__ import annotations

from graph.context import GraphContext, dtype_name_and_bytes
from graph.records import UnmodeledNode
from graph.views import NodeView

__all__ = ["MAX_ATTRIBUTE", "node_fields", "spatial_input", "spatial_shape", "unmodeled"]

MAX_ATTRIBUTE = 2**31 - 1  # kernel sizes, strides, pads, dilations, groups: ONNX Runtime's int range


def unmodeled(node: NodeView, reason: str, macs: int | None = None) -> UnmodeledNode:
    return UnmodeledNode(name=node.name, op_type=node.op_type, index=node.index, reason=reason, macs=macs)


def node_fields(ctx: GraphContext, node: NodeView, batch_size: int) -> dict[str, object]:
    """The fields every layer record takes from its node: name, op type, index, batch size and the element type
    (and its bytes) of its first input."""
    dtype, dtype_bytes = dtype_name_and_bytes(ctx.elem_type(node.input(0)))
    return {"name": node.name, "op_type": node.op_type, "index": node.index, "dtype": dtype, "batch_size": batch_size,
            "dtype_bytes": dtype_bytes}


def spatial_input(ctx: GraphContext, node: NodeView) -> tuple[int, int, int, int, int] | str:
    """(N, C, H, W, spatial rank) of the first input, or the reason it cannot be modeled."""
    shape = ctx.shape(ctx.operand(node, 0))
    if shape is None:
        return "input shape unknown after shape inference"
    if len(shape) == 4:
        return shape[0], shape[1], shape[2], shape[3], 2
    if len(shape) == 3:
        return shape[0], shape[1], 1, shape[2], 1
    return f"{len(shape) - 2}-D spatial input is not modeled (only 1-D and 2-D)"


def spatial_shape(ctx: GraphContext, node: NodeView, position: int = 0,
                  channels_last: bool = False) -> tuple[int, int, tuple[int, ...]] | str:
    """(N, C, spatial dims) of an input with 1 to 3 spatial axes, or the reason it cannot be modeled."""
    shape = ctx.shape(node.input(position))
    if shape is None:
        return "input shape unknown after shape inference"
    if not 3 <= len(shape) <= 5:
        return f"{len(shape) - 2}-D spatial input is not modeled (only 1-D, 2-D and 3-D)"
    if channels_last:
        return shape[0], shape[-1], tuple(shape[1:-1])
    return shape[0], shape[1], tuple(shape[2:])
