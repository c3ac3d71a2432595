"""Conv -> ConvLayer."""

from __future__ import annotations

from graph.context import GraphContext, NodeView
from graph.ops.common import data_type, spatial_input, unmodeled
from graph.ops.window import read_window
from graph.records import ConvLayer, UnmodeledNode

__all__ = ["handle_conv"]


def handle_conv(ctx: GraphContext, node: NodeView) -> ConvLayer | UnmodeledNode:
    spatial = spatial_input(ctx, node)
    if isinstance(spatial, str):
        return unmodeled(node, spatial)
    batch, channels, height, width, spatial_rank = spatial
    weight_shape = ctx.shape(node.inputs[1]) if len(node.inputs) > 1 else None
    if weight_shape is None:
        return unmodeled(node, "weight shape unknown")
    if len(weight_shape) != spatial_rank + 2:
        raise ctx.error(node, f"weight has rank {len(weight_shape)}, input has rank {spatial_rank + 2}")
    groups = int(node.attribute("group", 1))
    out_channels, weight_channels = weight_shape[0], weight_shape[1]
    if groups <= 0 or channels % groups or out_channels % groups or weight_channels * groups != channels:
        raise ctx.error(
            node,
            f"weight {weight_shape} does not fit {channels} input channels with group={groups} "
            f"(needs weight[1] * group == channels and out_channels divisible by group)",
        )
    kernel = tuple(ctx.ints(node, "kernel_shape") or weight_shape[2:])
    if tuple(kernel) != tuple(weight_shape[2:]):
        raise ctx.error(node, f"kernel_shape {kernel} disagrees with the weight's {tuple(weight_shape[2:])}")
    window = read_window(ctx, node, (height, width), kernel, spatial_rank)
    has_bias = len(node.inputs) > 2 and bool(node.inputs[2])
    if has_bias:
        bias_shape = ctx.shape(node.inputs[2])
        if bias_shape is not None and bias_shape != (out_channels,):
            raise ctx.error(node, f"bias shape {bias_shape} should be ({out_channels},)")
    dtype, dtype_bytes = data_type(ctx, node.inputs[0])
    return ConvLayer(
        name=node.name,
        op_type=node.op_type,
        index=node.index,
        dtype=dtype,
        batch_size=batch,
        input_chw=(channels, height, width),
        output_chw=(out_channels, *window.output_hw),
        kernel=window.kernel,
        pads=window.pads,
        stride=window.stride,
        dilation=window.dilation,
        groups=groups,
        has_bias=has_bias,
        dtype_bytes=dtype_bytes,
    )
