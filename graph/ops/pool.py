"""MaxPool, AveragePool, global pools (2-D and 3-D, and ONNX Runtime's int8 ones) and
ReduceMean/ReduceMax over H, W -> PoolLayer."""

from __future__ import annotations

from graph.context import GraphContext
from graph.ops.common import MAX_ATTRIBUTE, node_fields, spatial_shape, unmodeled
from graph.ops.other import handle_other
from graph.ops.window import read_window
from graph.records import NO_DEPTH, Depth, OtherLayer, PoolLayer, UnmodeledNode
from graph.views import NodeView

__all__ = ["handle_global_pool", "handle_pool", "handle_reduce"]

_KIND = {"MaxPool": "max", "AveragePool": "avg", "GlobalMaxPool": "max", "GlobalAveragePool": "avg",
         "ReduceMax": "max", "ReduceMean": "avg", "QLinearAveragePool": "avg", "QLinearGlobalAveragePool": "avg"}


def handle_pool(ctx: GraphContext, node: NodeView) -> PoolLayer | UnmodeledNode:
    ctx.operand(node, 0)
    kernel = ctx.ints(node, "kernel_shape", 1, MAX_ATTRIBUTE)
    if not kernel:
        raise ctx.error(node, "kernel_shape is required")
    ceil_mode = bool(ctx.integer(node, "ceil_mode", 0, 0, 1))
    count_include_pad = bool(ctx.integer(node, "count_include_pad", 0, 0, 1))
    spatial = spatial_shape(ctx, node, channels_last=bool(ctx.integer(node, "channels_last", 0, 0, 1)))
    if isinstance(spatial, str):
        return unmodeled(node, spatial)
    batch, channels, dims = spatial
    rank = len(dims)
    window = read_window(ctx, node, dims if rank == 3 else _hw(dims), kernel, rank, ceil_mode=ceil_mode)
    return _record(ctx, node, batch, (channels, *_hw(dims)), (channels, *window.output_hw),
                   window.kernel, window.pads, window.stride, window.dilation, False, ceil_mode,
                   count_include_pad, rank, window.depth)


def handle_global_pool(ctx: GraphContext, node: NodeView) -> PoolLayer | UnmodeledNode:
    ctx.operand(node, 0)
    spatial = spatial_shape(ctx, node, channels_last=bool(ctx.integer(node, "channels_last", 0, 0, 1)))
    if isinstance(spatial, str):
        return unmodeled(node, spatial)
    batch, channels, dims = spatial
    height, width = _hw(dims)
    depth = Depth(input=dims[0], kernel=dims[0]) if len(dims) == 3 else NO_DEPTH
    return _global(ctx, node, batch, channels, height, width, len(dims), depth)


def _hw(dims: tuple[int, ...]) -> tuple[int, int]:
    return (1, dims[0]) if len(dims) == 1 else (dims[-2], dims[-1])


def handle_reduce(ctx: GraphContext, node: NodeView) -> PoolLayer | OtherLayer | UnmodeledNode:
    """ReduceMean/ReduceMax over the two spatial axes of an NCHW tensor is global pooling."""
    data, axes_input = ctx.operands(node, 1, 1)
    ctx.integer(node, "keepdims", 1, 0, 1)
    shape = ctx.shape(data)
    axes = ctx.ints(node, "axes")
    if axes is None and axes_input:
        values = ctx.constant_values(axes_input)
        if values is not None and values.dtype.kind not in "iu":
            raise ctx.error(node, f"axes must be integers, got {values.dtype.name} values")
        axes = None if values is None else tuple(int(v) for v in values.reshape(-1))
    if shape is None or axes is None:
        return handle_other(ctx, node)
    if any(not -len(shape) <= axis < len(shape) for axis in axes):
        raise ctx.error(node, f"axes {_short(axes)} are out of range for an input of rank {len(shape)}")
    if len(shape) != 4 or sorted(a % 4 for a in axes) != [2, 3]:
        return handle_other(ctx, node)
    batch, channels, height, width = shape
    return _global(ctx, node, batch, channels, height, width)


def _global(ctx: GraphContext, node: NodeView, batch: int, channels: int, height: int, width: int,
            rank: int = 2, depth: Depth = NO_DEPTH) -> PoolLayer:
    return _record(ctx, node, batch, (channels, height, width), (channels, 1, 1), (height, width),
                   (0, 0, 0, 0), (1, 1), (1, 1), True, False, False, rank, depth)


def _short(values: tuple[int, ...]) -> str:
    shown = str(values)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _record(ctx, node, batch, input_chw, output_chw, kernel, pads, stride, dilation, is_global,
            ceil_mode, count_include_pad, rank=2, depth=NO_DEPTH) -> PoolLayer:
    return PoolLayer(
        **node_fields(ctx, node, batch),
        input_chw=input_chw,
        output_chw=output_chw,
        kernel=kernel,
        pads=pads,
        stride=stride,
        dilation=dilation,
        pool_kind=_KIND[node.op_type],
        is_global=is_global,
        ceil_mode=ceil_mode,
        count_include_pad=count_include_pad,
        spatial_rank=rank,
        depth=depth,
    )

