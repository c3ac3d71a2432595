"""Data-movement ops: Concat, Split, Slice, Transpose, Reshape and friends, Pad, Gather, Resize, DepthToSpace."""

from __future__ import annotations

import math

import numpy as np

from estimator.errors import MeasureError
from estimator.measure.backends.pytorch.ops.registry import Fn, Spec, register
from estimator.measure.backends.pytorch.torch_import import load_torch, nn_functional

__all__ = ["attribute_axes", "input_axes"]


@register("Concat")
def _concat(spec: Spec) -> Fn:
    torch = load_torch()
    axis = spec.axis(int(spec.attr("axis", 0)))
    return lambda *xs: torch.cat([x for x in xs if x is not None], dim=axis)


def _split_sizes(spec: Spec, axis: int, sizes: list[int] | None) -> Fn:
    torch = load_torch()
    if sizes is None:
        parts = int(spec.attr("num_outputs", 0)) or len(spec.out_shapes or ()) or 2
        length = spec.shapes[0][axis]
        size = -(-length // parts)
        sizes = [size] * (length // size) + ([length % size] if length % size else [])
    return lambda x, *_: tuple(part.contiguous() for part in torch.split(x, sizes, dim=axis))


@register("Split")
def _split_attribute(spec: Spec) -> Fn:
    """Split before opset 13: sizes in the `split` attribute."""
    axis = spec.axis(int(spec.attr("axis", 0)))
    return _split_sizes(spec, axis, list(spec.attr("split", ()) or ()) or None)


@register("Split", since=13)
def _split_input(spec: Spec) -> Fn:
    """Split from opset 13: sizes in constant input 1 (or num_outputs, or the outputs' count)."""
    axis = spec.axis(int(spec.attr("axis", 0)))
    return _split_sizes(spec, axis, spec.static_ints(1))


def _slice(shape: tuple[int, ...], starts: list[int], ends: list[int], axes: list[int], steps: list[int]) -> Fn:
    index: list[slice] = [slice(None)] * len(shape)
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=False):
        if step <= 0:
            raise MeasureError("Slice with a negative step is not supported by the PyTorch backend")
        axis %= len(shape)
        size = shape[axis]
        start = min(max(start + size if start < 0 else start, 0), size)
        end = min(max(end + size if end < 0 else end, 0), size)
        index[axis] = slice(start, end, step)
    key = tuple(index)
    return lambda x, *_: x[key].contiguous()


@register("Slice")
def _slice_attributes(spec: Spec) -> Fn:
    """Slice before opset 10: starts, ends and axes are attributes."""
    starts, ends = list(spec.attr("starts", ())), list(spec.attr("ends", ()))
    axes = list(spec.attr("axes", ())) or list(range(len(starts)))
    return _slice(spec.shapes[0], starts, ends, axes, [1] * len(starts))


@register("Slice", since=10)
def _slice_inputs(spec: Spec) -> Fn:
    """Slice from opset 10: starts, ends, axes and steps are (constant) inputs."""
    starts, ends = spec.static_ints(1), spec.static_ints(2)
    if starts is None or ends is None:
        raise MeasureError("Slice: starts and ends must be constants")
    axes = spec.static_ints(3) if len(spec.shapes) > 3 and spec.shapes[3] is not None else None
    axes = axes or list(range(len(starts)))
    steps = spec.static_ints(4) if len(spec.shapes) > 4 and spec.shapes[4] is not None else None
    steps = steps or [1] * len(starts)
    return _slice(spec.shapes[0], starts, ends, axes, steps)


@register("Transpose")
def _transpose(spec: Spec) -> Fn:
    perm = list(spec.attr("perm", ()) or reversed(range(spec.rank())))
    # Materialised, as ONNX Runtime does: the copy is counted at the node that causes it.
    return lambda x: x.permute(perm).contiguous()


def _reshape(spec: Spec, target: list[int] | None) -> Fn:
    if target is None:
        raise MeasureError("Reshape: the target shape must be a constant")
    shape = spec.shapes[0]
    if not int(spec.attr("allowzero", 0)):
        target = [shape[i] if d == 0 and i < len(shape) else d for i, d in enumerate(target)]
    return lambda x, *_: x.reshape(target)


@register("Reshape")
def _reshape_attribute(spec: Spec) -> Fn:
    """Reshape before opset 5: the target shape is an attribute."""
    return _reshape(spec, list(spec.attr("shape", ())))


@register("Reshape", since=5)
def _reshape_input(spec: Spec) -> Fn:
    """Reshape from opset 5: the target shape is constant input 1."""
    return _reshape(spec, spec.static_ints(1))


@register("Flatten")
def _flatten(spec: Spec) -> Fn:
    shape = spec.shapes[0]
    axis = int(spec.attr("axis", 1)) % (len(shape) + 1) if shape else 1
    outer = math.prod(shape[:axis])
    return lambda x: x.reshape(outer, -1)


def attribute_axes(spec: Spec) -> list[int] | None:
    """Axes given as the `axes` attribute (Squeeze, Unsqueeze and the reductions in early opsets)."""
    axes = spec.attr("axes")
    return None if axes is None else [int(a) for a in axes]


def input_axes(spec: Spec) -> list[int] | None:
    """Axes given as constant input 1 (the same ops in later opsets)."""
    return spec.static_ints(1) if len(spec.shapes) > 1 and spec.shapes[1] is not None else None


def _squeeze(spec: Spec, axes: list[int] | None) -> Fn:
    if axes is None:
        return lambda x, *_: x.squeeze()
    dims = tuple(a % spec.rank() for a in axes)
    return lambda x, *_: x.squeeze(dims)


def _unsqueeze(spec: Spec, axes: list[int] | None) -> Fn:
    axes = axes or []
    rank = spec.rank() + len(axes)
    dims = sorted(a % rank for a in axes)

    def run(x, *_):
        for dim in dims:
            x = x.unsqueeze(dim)
        return x
    return run


register("Squeeze")(lambda spec: _squeeze(spec, attribute_axes(spec)))
register("Squeeze", since=13)(lambda spec: _squeeze(spec, input_axes(spec)))
register("Unsqueeze")(lambda spec: _unsqueeze(spec, attribute_axes(spec)))
register("Unsqueeze", since=13)(lambda spec: _unsqueeze(spec, input_axes(spec)))


@register(("Identity", "Dropout"))
def _identity(spec: Spec) -> Fn:
    return lambda x, *_: x


@register("Expand")
def _expand(spec: Spec) -> Fn:
    torch = load_torch()
    target = spec.required_ints(1, "the target shape")
    shape = tuple(torch.broadcast_shapes(tuple(spec.shapes[0]), tuple(target)))
    return lambda x, *_: x.expand(shape).contiguous()


@register("Tile")
def _tile(spec: Spec) -> Fn:
    repeats = spec.required_ints(1, "repeats")
    return lambda x, *_: x.repeat(repeats)


def _pad(spec: Spec, pads: list[int] | None, value: float | None) -> Fn:
    functional = nn_functional()
    if pads is None:
        raise MeasureError("Pad: pads must be a constant")
    rank = spec.rank()
    axes = spec.static_ints(3) if len(spec.shapes) > 3 and spec.shapes[3] is not None else list(range(rank))
    mode = {"constant": "constant", "reflect": "reflect", "edge": "replicate", "wrap": "circular"}[
        str(spec.attr("mode", "constant"))]
    full = [0] * (2 * rank)
    count = len(axes)
    for i, axis in enumerate(axes):
        full[axis % rank] = pads[i]
        full[rank + axis % rank] = pads[count + i]
    torch_pad: list[int] = []
    for axis in reversed(range(rank)):
        torch_pad += [full[axis], full[rank + axis]]
    while len(torch_pad) > 2 and torch_pad[-2:] == [0, 0]:
        torch_pad = torch_pad[:-2]
    if mode == "constant":
        fill = value or 0.0
        return lambda x, *_: functional.pad(x, torch_pad, mode="constant", value=fill)
    return lambda x, *_: functional.pad(x, torch_pad, mode=mode)


@register("Pad")
def _pad_attributes(spec: Spec) -> Fn:
    """Pad before opset 11: pads and value are attributes."""
    return _pad(spec, list(spec.attr("pads", ())), float(spec.attr("value", 0.0)))


@register("Pad", since=11)
def _pad_inputs(spec: Spec) -> Fn:
    """Pad from opset 11: pads, the constant value and (from 18) axes are inputs."""
    return _pad(spec, spec.static_ints(1), spec.static_float(2))


@register("Gather")
def _gather(spec: Spec) -> Fn:
    torch = load_torch()
    shape = spec.shapes[0]
    axis = int(spec.attr("axis", 0)) % len(shape)
    index_shape = tuple(spec.shapes[1] or ())
    out_shape = (*shape[:axis], *index_shape, *shape[axis + 1:])
    return lambda x, index: torch.index_select(x, axis, index.reshape(-1).long()).reshape(out_shape)


@register("GatherElements")
def _gather_elements(spec: Spec) -> Fn:
    torch = load_torch()
    axis = spec.axis(int(spec.attr("axis", 0)))
    return lambda x, index: torch.gather(x, axis, index.long())


@register(("Resize", "Upsample"))
def _resize(spec: Spec) -> Fn:
    functional = nn_functional()
    shape = spec.shapes[0]
    size: list[int] | None = None
    if spec.out_shapes:
        size = list(spec.out_shapes[0][2:])
    elif spec.op_type == "Resize" and len(spec.shapes) > 3 and spec.static.get(3) is not None:
        size = spec.static_ints(3)[2:]
    else:
        position = 2 if spec.op_type == "Resize" else 1
        scales = spec.static.get(position)
        if scales is None and spec.op_type == "Upsample":
            scales = np.asarray(spec.attr("scales", ()), dtype=float)
        if scales is None or np.asarray(scales).size == 0:
            raise MeasureError(f"{spec.op_type}: scales or sizes must be constants")
        size = [math.floor(d * s) for d, s in zip(shape[2:], np.asarray(scales).reshape(-1)[2:], strict=False)]
    mode = str(spec.attr("mode", "nearest"))
    align = str(spec.attr("coordinate_transformation_mode", "half_pixel")) == "align_corners"
    spatial = len(shape) - 2
    if mode == "nearest":
        return lambda x, *_: functional.interpolate(x, size=size, mode="nearest")
    torch_mode = {"linear": {1: "linear", 2: "bilinear", 3: "trilinear"}.get(spatial), "cubic": "bicubic"}.get(mode)
    if torch_mode is None:
        raise MeasureError(f"{spec.op_type} mode {mode!r} on {spatial}-D input is not supported by the PyTorch backend")
    return lambda x, *_: functional.interpolate(x, size=size, mode=torch_mode, align_corners=align)


@register(("DepthToSpace", "SpaceToDepth"))
def _depth_to_space(spec: Spec) -> Fn:
    block = int(spec.attr("blocksize"))
    if spec.op_type == "SpaceToDepth":
        fn = nn_functional().pixel_unshuffle
        return lambda x: fn(x, block)
    if str(spec.attr("mode", "DCR")) == "CRD":
        fn = nn_functional().pixel_shuffle
        return lambda x: fn(x, block)
    n, c, h, w = spec.shapes[0]
    return lambda x: (x.reshape(n, block, block, c // block**2, h, w).permute(0, 3, 4, 1, 5, 2)
                      .reshape(n, c // block**2, h * block, w * block))
