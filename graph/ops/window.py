"""Window arithmetic shared by Conv and pooling: pads, auto_pad and output sizes.

window_geometry is the arithmetic alone (any number of spatial axes); measuring backends use it too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from graph.context import GraphContext
from graph.records import NO_DEPTH, Depth
from graph.views import NodeView

__all__ = ["AUTO_PADS", "Window", "read_window", "window_geometry"]

AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")
_MAX = 2**31 - 1


@dataclass(frozen=True)
class Window:
    """A 2-D sliding window; 1-D ops are lifted to height 1."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    pads: tuple[int, int, int, int]  # begin_h, begin_w, end_h, end_w
    output_hw: tuple[int, int]
    depth: Depth = NO_DEPTH  # the first of three spatial axes


def read_window(
    ctx: GraphContext,
    node: NodeView,
    input_hw: tuple[int, int],
    kernel: tuple[int, ...],
    spatial_rank: int,
    ceil_mode: bool = False,
) -> Window:
    """Resolve strides, dilations, pads and auto_pad of a Conv/pool node into a 2-D window.

    With three spatial axes, `input_hw` and `kernel` are (D, H, W) and the depth goes to `Window.depth`. A window is
    read once per kind of node (attributes, input dims, kernel: GraphContext.memos); an error is raised for each node.
    """
    key = ("window", node.attributes_key, tuple(input_hw), tuple(kernel), spatial_rank, ceil_mode)
    window = ctx.memos.get(key)
    if window is None:
        ctx.memos[key] = window = _read_window(ctx, node, input_hw, kernel, spatial_rank, ceil_mode)
    return window


def _read_window(ctx: GraphContext, node: NodeView, input_hw: tuple[int, int], kernel: tuple[int, ...],
                 spatial_rank: int, ceil_mode: bool) -> Window:
    if spatial_rank == 3:
        return _read_window_3d(ctx, node, tuple(input_hw), tuple(kernel), ceil_mode)
    strides = _lift(ctx.ints(node, "strides", 1, _MAX) or (1,) * spatial_rank, spatial_rank, 1, ctx, node, "strides")
    dilations = _lift(ctx.ints(node, "dilations", 1, _MAX) or (1,) * spatial_rank, spatial_rank, 1, ctx, node,
                      "dilations")
    kernel_2d = _lift(kernel, spatial_rank, 1, ctx, node, "kernel_shape")
    auto_pad = ctx.string(node, "auto_pad", "NOTSET", AUTO_PADS)
    if any(s <= 0 for s in strides) or any(d <= 0 for d in dilations) or any(k <= 0 for k in kernel_2d):
        raise ctx.error(node, "kernel, strides and dilations must be positive")

    explicit = ctx.ints(node, "pads", 0, _MAX) or (0,) * (2 * spatial_rank)
    if len(explicit) != 2 * spatial_rank:
        raise ctx.error(node, f"pads has {len(explicit)} values, expected {2 * spatial_rank}")
    explicit_begin = _lift(explicit[:spatial_rank], spatial_rank, 0, ctx, node, "pads")
    explicit_end = _lift(explicit[spatial_rank:], spatial_rank, 0, ctx, node, "pads")
    try:
        begins, ends, outputs = window_geometry(input_hw, kernel_2d, strides, dilations, (*explicit_begin, *explicit_end),
                                                auto_pad, ceil_mode)
    except ValueError as error:
        raise ctx.error(node, str(error)) from None
    return Window(
        kernel=(kernel_2d[0], kernel_2d[1]),
        stride=(strides[0], strides[1]),
        dilation=(dilations[0], dilations[1]),
        pads=(begins[0], begins[1], ends[0], ends[1]),
        output_hw=(outputs[0], outputs[1]),
    )


def _read_window_3d(ctx: GraphContext, node: NodeView, input_dhw: tuple[int, ...], kernel: tuple[int, ...],
                    ceil_mode: bool) -> Window:
    strides = ctx.ints(node, "strides", 1, _MAX) or (1, 1, 1)
    dilations = ctx.ints(node, "dilations", 1, _MAX) or (1, 1, 1)
    pads = ctx.ints(node, "pads", 0, _MAX) or (0,) * 6
    if len(input_dhw) != 3 or len(kernel) != 3 or len(strides) != 3 or len(dilations) != 3 or len(pads) != 6:
        raise ctx.error(node, "a 3-D window needs 3 kernel, stride and dilation values and 6 pads")
    if any(v <= 0 for v in (*kernel, *strides, *dilations)):
        raise ctx.error(node, "kernel, strides and dilations must be positive")
    try:
        begins, ends, outputs = window_geometry(input_dhw, kernel, strides, dilations, pads,
                                                ctx.string(node, "auto_pad", "NOTSET", AUTO_PADS), ceil_mode)
    except ValueError as error:
        raise ctx.error(node, str(error)) from None
    depth = Depth(input=input_dhw[0], output=outputs[0], kernel=kernel[0], stride=strides[0], dilation=dilations[0],
                  pads=(begins[0], ends[0]))
    return Window(kernel=(kernel[1], kernel[2]), stride=(strides[1], strides[2]), dilation=(dilations[1], dilations[2]),
                  pads=(begins[1], begins[2], ends[1], ends[2]), output_hw=(outputs[1], outputs[2]), depth=depth)


def _lift(values, spatial_rank: int, fill: int, ctx: GraphContext, node: NodeView, what: str) -> tuple[int, int]:
    values = tuple(int(v) for v in values)
    if len(values) != spatial_rank:
        raise ctx.error(node, f"{what} has {len(values)} values, expected {spatial_rank}")
    return (fill, values[0]) if spatial_rank == 1 else (values[0], values[1])


def window_geometry(
    spatial: Sequence[int],
    kernel: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int],
    pads: Sequence[int],
    auto_pad: str = "NOTSET",
    ceil_mode: bool = False,
) -> tuple[list[int], list[int], list[int]]:
    """Begin pads, end pads and output sizes per spatial axis; ValueError names what is wrong.

    `pads` are ONNX's explicit pads (all begins, then all ends), used when auto_pad is NOTSET.
    """
    rank = len(spatial)
    begins: list[int] = []
    ends: list[int] = []
    outputs: list[int] = []
    for axis in range(rank):
        size, k, s, d = spatial[axis], kernel[axis], strides[axis], dilations[axis]
        effective = (k - 1) * d + 1
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            out = -(-size // s)
            total = max(0, (out - 1) * s + effective - size)
            small, large = total // 2, total - total // 2
            begin, end = (small, large) if auto_pad == "SAME_UPPER" else (large, small)
        elif auto_pad == "VALID":
            begin = end = 0
        elif auto_pad == "NOTSET":
            begin, end = pads[axis], pads[rank + axis]
        else:
            raise ValueError(f"unknown auto_pad {auto_pad!r}")
        if begin < 0 or end < 0:
            raise ValueError("negative pads are not supported")
        padded = size + begin + end
        if effective > padded:
            raise ValueError(
                f"kernel {effective} (dilated) is larger than the padded input {padded} on axis {axis}; "
                "check kernel_shape, pads and the input shape"
            )
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            out = -(-size // s)
        elif ceil_mode:
            out = math.ceil((padded - effective) / s) + 1
            # The last window must start inside the input or its begin padding.
            if (out - 1) * s >= size + begin:
                out -= 1
        else:
            out = (padded - effective) // s + 1
        begins.append(begin)
        ends.append(end)
        outputs.append(out)
    return begins, ends, outputs
