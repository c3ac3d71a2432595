"""Conv, ConvTranspose and the int8 convolutions (QLinearConv, ConvInteger) -> ConvLayer."""

from __future__ import annotations

import dataclasses

from graph.context import GraphContext
from graph.ops.common import MAX_ATTRIBUTE, node_fields, spatial_shape, unmodeled
from graph.ops.window import Window, read_window
from graph.records import ConvLayer, Depth, UnmodeledNode
from graph.views import NodeView

__all__ = ["handle_conv", "handle_conv_transpose"]

# Input positions of (data, weight, bias) per op.
_OPERANDS = {"Conv": (0, 1, 2), "QLinearConv": (0, 3, 8), "ConvInteger": (0, 1, None), "ConvTranspose": (0, 1, 2)}


def handle_conv(ctx: GraphContext, node: NodeView) -> ConvLayer | UnmodeledNode:
    found = _operands(ctx, node)
    if isinstance(found, UnmodeledNode):
        return found
    batch, channels, spatial, weight_shape = found
    rank = len(spatial)
    groups = ctx.integer(node, "group", 1, 1, MAX_ATTRIBUTE)
    out_channels, weight_channels = weight_shape[0], weight_shape[1]
    if channels % groups or out_channels % groups or weight_channels * groups != channels:
        raise ctx.error(
            node,
            f"weight {weight_shape} does not fit {channels} input channels with group={groups} "
            f"(needs weight[1] * group == channels and out_channels divisible by group)",
        )
    kernel = tuple(ctx.ints(node, "kernel_shape", 1, MAX_ATTRIBUTE) or weight_shape[2:])
    if tuple(kernel) != tuple(weight_shape[2:]):
        raise ctx.error(node, f"kernel_shape {kernel} disagrees with the weight's {tuple(weight_shape[2:])}")
    window = read_window(ctx, node, spatial if rank == 3 else _hw(spatial), kernel, rank)
    return _record(ctx, node, batch, channels, _hw(spatial), out_channels, window, groups, rank)


def handle_conv_transpose(ctx: GraphContext, node: NodeView) -> ConvLayer | UnmodeledNode:
    """ConvTranspose: the weight is (C_in, C_out / group, k...); output sizes come from shape inference."""
    found = _operands(ctx, node)
    if isinstance(found, UnmodeledNode):
        return found
    batch, channels, spatial, weight_shape = found
    rank = len(spatial)
    groups = ctx.integer(node, "group", 1, 1, MAX_ATTRIBUTE)
    if weight_shape[0] != channels or channels % groups:
        raise ctx.error(node, f"weight {weight_shape} does not fit {channels} input channels with group={groups} "
                              "(a transposed convolution's weight is (C_in, C_out / group, k...))")
    output = ctx.shape(node.outputs[0])
    if output is None or len(output) != rank + 2:
        return unmodeled(node, "output shape unknown after shape inference")
    kernel = tuple(weight_shape[2:])
    strides = ctx.ints(node, "strides", 1, MAX_ATTRIBUTE) or (1,) * rank
    dilations = ctx.ints(node, "dilations", 1, MAX_ATTRIBUTE) or (1,) * rank
    pads = ctx.ints(node, "pads", 0, MAX_ATTRIBUTE) or (0,) * (2 * rank)
    output_padding = ctx.ints(node, "output_padding", 0, MAX_ATTRIBUTE) or (0,) * rank
    if len(strides) != rank or len(dilations) != rank or len(pads) != 2 * rank or len(output_padding) != rank:
        raise ctx.error(node, f"strides, dilations, pads and output_padding must describe {rank} spatial axes")
    axes = list(range(rank))
    h, w = axes[-2:] if rank > 1 else (None, 0)

    def pick(values, axis, fill):
        return fill if axis is None else values[axis]

    window = Window(
        kernel=(pick(kernel, h, 1), kernel[w]), stride=(pick(strides, h, 1), strides[w]),
        dilation=(pick(dilations, h, 1), dilations[w]),
        pads=(pick(pads, h, 0), pads[w], pick(pads[rank:], h, 0), pads[rank + w]),
        output_hw=_hw(tuple(output[2:])),
        depth=Depth(spatial[0], output[2], kernel[0], strides[0], dilations[0], (pads[0], pads[rank]))
        if rank == 3 else Depth(),
    )
    out_channels = weight_shape[1] * groups
    layer = _record(ctx, node, batch, channels, _hw(spatial), out_channels, window, groups, rank)
    return dataclasses.replace(layer, transposed=True, output_padding=(pick(output_padding, h, 0), output_padding[w]))


def _operands(ctx: GraphContext, node: NodeView):
    """(N, C, spatial dims, weight shape), or the UnmodeledNode saying why not."""
    x_at, w_at, _ = _OPERANDS[node.op_type]
    ctx.operand(node, x_at)
    ctx.operand(node, w_at)
    spatial = spatial_shape(ctx, node, x_at)
    if isinstance(spatial, str):
        return unmodeled(node, spatial)
    batch, channels, dims = spatial
    weight_shape = ctx.shape(node.input(w_at))
    if weight_shape is None:
        return unmodeled(node, "weight shape unknown")
    if len(weight_shape) != len(dims) + 2:
        raise ctx.error(node, f"weight has rank {len(weight_shape)}, input has rank {len(dims) + 2}")
    return batch, channels, dims, weight_shape


def _hw(spatial: tuple[int, ...]) -> tuple[int, int]:
    """(H, W) of the last two spatial axes; a 1-D input is read as height 1."""
    return (1, spatial[0]) if len(spatial) == 1 else (spatial[-2], spatial[-1])


def _record(ctx: GraphContext, node: NodeView, batch: int, channels: int, input_hw: tuple[int, int],
            out_channels: int, window: Window, groups: int, rank: int) -> ConvLayer:
    _, _, b_at = _OPERANDS[node.op_type]
    has_bias = b_at is not None and bool(node.input(b_at))
    if has_bias:
        bias_shape = ctx.shape(node.input(b_at))
        if bias_shape is not None and bias_shape != (out_channels,):
            raise ctx.error(node, f"bias shape {bias_shape} should be ({out_channels},)")
    return ConvLayer(
        **node_fields(ctx, node, batch),
        input_chw=(channels, *input_hw),
        output_chw=(out_channels, *window.output_hw),
        kernel=window.kernel,
        pads=window.pads,
        stride=window.stride,
        dilation=window.dilation,
        groups=groups,
        has_bias=has_bias,
        spatial_rank=rank,
        depth=window.depth,
    )
