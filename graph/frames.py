"""Layer records -> pandas DataFrames with the seed's columns first and ours after."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable

import pandas as pd

from graph.records import ConvLayer, DenseLayer, Layer, LayerType, MatMulLayer, OtherLayer, PoolLayer, RecurrentLayer
from graph.schema import FEATURE_COLUMNS

__all__ = ["BROADCASTING", "DESCRIPTIVE_COLUMNS", "broadcast_spans", "inner_elements", "layer_row", "layers_to_frame",
           "parse_shapes", "shape_text"]

# Row columns that describe a record as text for people and files, and that no model reads (layer_row's
# `described`; tests/estimator/predict checks that no profile's features read them).
DESCRIPTIVE_COLUMNS = frozenset({"input_shapes", "output_shapes", "attributes", "kernel_input_shape",
                                 "kernel_output_shape"})


def layers_to_frame(layers: Iterable[Layer], layer_type: LayerType) -> pd.DataFrame:
    """One row per layer of `layer_type`: seed feature columns, `layer_name`, then extras.

    The measured targets (`power`, `runtime`) are not features; the collector inserts them
    before `layer_name` when it writes a CSV, which restores the seed's exact column order.
    """
    rows = [layer_row(layer) for layer in layers if layer.layer_type == layer_type]
    if rows:
        return pd.DataFrame(rows)
    return pd.DataFrame(columns=[*FEATURE_COLUMNS[layer_type], "layer_name"])


@functools.singledispatch
def layer_row(layer: Layer, described: bool = True) -> dict[str, object]:
    """The flat feature row of one record (seed columns first, in order): one registration per layer type.

    `described=False` leaves out the columns that describe an op as text and that no model reads (an op's
    shapes and attributes: DESCRIPTIVE_COLUMNS), which cost most of a small kernel's row."""
    raise TypeError(f"not a layer record: {layer!r}")


def shape_text(shape: Iterable[int] | None) -> str:
    return "?" if shape is None else "x".join(map(str, shape))


def _spatial(layer: ConvLayer | PoolLayer) -> dict[str, object]:
    return {
        "batch_size": layer.batch_size,
        "input_size_0": layer.input_chw[0],
        "input_size_1": layer.input_chw[1],
        "input_size_2": layer.input_chw[2],
        "output_size_0": layer.output_chw[0],
        "output_size_1": layer.output_chw[1],
        "output_size_2": layer.output_chw[2],
        "kernel_0": layer.kernel[0],
        "kernel_1": layer.kernel[1],
    }


def _common(layer: Layer) -> dict[str, object]:
    return {"layer_name": layer.name, "op_type": layer.op_type, "node_index": layer.index, "dtype": layer.dtype}


def _depth(layer: ConvLayer | PoolLayer) -> dict[str, object]:
    """The third spatial axis (1s and 0s for 2-D layers): 3-D convs and pools keep the seed's columns for C, H, W."""
    return {
        "spatial_rank": layer.spatial_rank,
        "input_depth": layer.depth.input,
        "output_depth": layer.depth.output,
        "kernel_depth": layer.depth.kernel,
        "stride_depth": layer.depth.stride,
        "padding_depth": layer.depth.pads[0] + layer.depth.pads[1],
        "dilation_depth": layer.depth.dilation,
    }


@layer_row.register(ConvLayer)
def _conv_row(layer: ConvLayer, described: bool = True) -> dict[str, object]:
    input_elements = layer.batch_size * math.prod(layer.input_chw) * layer.depth.input
    output_elements = layer.batch_size * math.prod(layer.output_chw) * layer.depth.output
    return {
        **_spatial(layer),
        "padding_0": layer.padding[0],
        "padding_1": layer.padding[1],
        "stride_0": layer.stride[0],
        "stride_1": layer.stride[1],
        **_common(layer),
        "groups": layer.groups,
        "dilation_0": layer.dilation[0],
        "dilation_1": layer.dilation[1],
        "has_bias": int(layer.has_bias),
        "macs": layer.macs,
        "params": layer.params,
        "input_bytes": input_elements * layer.dtype_bytes,
        "weight_bytes": layer.params * layer.dtype_bytes,
        "output_bytes": output_elements * layer.dtype_bytes,
        **_depth(layer),
        "transposed": int(layer.transposed),
        "output_padding_0": layer.output_padding[0],
        "output_padding_1": layer.output_padding[1],
    }


@layer_row.register(PoolLayer)
def _pool_row(layer: PoolLayer, described: bool = True) -> dict[str, object]:
    return {
        **_spatial(layer),
        "stride_0": layer.stride[0],
        "stride_1": layer.stride[1],
        **_common(layer),
        "pool_kind": layer.pool_kind,
        "is_global": int(layer.is_global),
        "padding_0": layer.padding[0],
        "padding_1": layer.padding[1],
        "dilation_0": layer.dilation[0],
        "dilation_1": layer.dilation[1],
        "ceil_mode": int(layer.ceil_mode),
        "count_include_pad": int(layer.count_include_pad),
        "output_elements": layer.batch_size * math.prod(layer.output_chw) * layer.depth.output,
        **_depth(layer),
    }


@layer_row.register(DenseLayer)
def _dense_row(layer: DenseLayer, described: bool = True) -> dict[str, object]:
    return {
        "batch_size": layer.batch_size,
        "input_size": layer.input_size,
        "output_size": layer.output_size,
        **_common(layer),
        "rows": layer.rows,
        "in_features": layer.in_features,
        "out_features": layer.out_features,
        "has_bias": int(layer.has_bias),
        "macs": layer.macs,
        "params": layer.params,
        "input_rank": len(layer.input_shape),
    }


@layer_row.register(OtherLayer)
def _other_row(layer: OtherLayer, described: bool = True) -> dict[str, object]:
    row = {
        "batch_size": layer.batch_size,
        "op_type": layer.op_type,
        "input_elements": layer.input_elements,
        "output_elements": layer.output_elements,
        "num_inputs": layer.num_inputs,
        "layer_name": layer.name,
        "node_index": layer.index,
        "dtype": layer.dtype,
        "is_free": int(layer.is_free),
        "producer_op": layer.producer_op,
    }
    if described:
        row["input_shapes"] = ";".join([shape_text(s) for s in layer.input_shapes])
        row["output_shapes"] = ";".join([shape_text(s) for s in layer.output_shapes])
        row["attributes"] = json.dumps(dict(layer.attributes), sort_keys=True) if layer.attributes else "{}"
    row["macs"] = layer.macs
    row.update(_op_features(layer))
    return row


BROADCASTING = frozenset({"Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max", "Min", "Where", "Equal", "Less", "Greater",
                          "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor"})


def broadcast_spans(input_shapes: Iterable[tuple[int, ...] | None], output_shape: tuple[int, ...]) -> int:
    """How many contiguous runs a broadcasting elementwise op loops over: the output's elements / the trailing block
    over which each input is either whole or one value (same shapes or a scalar: 1 run; a per-channel scale of NCHW:
    N x C runs of H x W; a last-axis vector over NHWC, ConvNeXt's layer scale: N x H x W runs of C). The runtime pays
    a fixed cost per run."""
    rank = len(output_shape)
    padded = [(1,) * (rank - len(shape)) + tuple(shape) for shape in input_shapes if shape is not None]
    span, pattern = 1, None
    for axis in reversed(range(rank)):
        if output_shape[axis] == 1:
            continue
        here = tuple(shape[axis] == output_shape[axis] for shape in padded)
        if pattern is not None and here != pattern:
            break
        pattern = here
        span *= output_shape[axis]
    return max(1, math.prod(output_shape) // span) if span else 0


def parse_shapes(text: object) -> list[tuple[int, ...] | None]:
    """shape_text()s joined by ';' (a row's input_shapes) -> shapes ('' is a scalar, '?' unknown)."""
    if not isinstance(text, str):
        return []
    return [None if part == "?" else tuple(int(v) for v in part.split("x") if v) for part in text.split(";")]


_NORMALISED = frozenset({"Softmax", "LogSoftmax", "LayerNormalization", "SkipLayerNormalization", "ReduceMean",
                         "ReduceSum", "ReduceMax", "ReduceMin", "ReduceL1", "ReduceL2", "ReduceSumSquare", "ReduceProd",
                         "ReduceLogSum", "ReduceLogSumExp"})
# Ops that loop along one axis (or reduced axes) in steps of the block after it (inner_elements), and
# normalisations over the trailing axes (their block is 1).
_STRIDED = frozenset({"Softmax", "LogSoftmax", "Hardmax", "LpNormalization", "Concat", "Split"})
_TRAILING = frozenset({"LayerNormalization", "SkipLayerNormalization", "SimplifiedLayerNormalization",
                       "SkipSimplifiedLayerNormalization", "RMSNormalization", "InstanceNormalization",
                       "GroupNormalization"})


def inner_elements(op_type: str, attributes: dict[str, object], data: tuple[int, ...],
                   output: tuple[int, ...] | None = None, axes: tuple[int, ...] | None = None) -> int | None:
    """The contiguous block an axis op steps over: the elements after its axis (a softmax, a Split or Concat), after
    its last reduced axis (a reduction: `axes`, its attribute, or the dims a keepdims output shrank), or that a
    Transpose moves whole (the trailing dims it keeps in place). 1 when the op runs along the innermost axis, where
    ONNX Runtime's loops are contiguous; a softmax over another axis is transposed there and back, a reduction with
    kept dims after its axes runs a strided loop (FastReduceKRK/RK). None for other ops or unknown axes."""
    rank = len(data)
    if not rank:
        return None
    if op_type in _TRAILING:
        return 1
    if op_type == "Transpose":
        perm = attributes.get("perm") or tuple(reversed(range(rank)))
        kept = rank
        while kept > 0 and perm[kept - 1] == kept - 1:
            kept -= 1
        return math.prod(data[kept:])
    if op_type.startswith("Reduce"):
        axes = axes or attributes.get("axes")
        if not axes and output is not None and len(output) == rank:
            axes = tuple(a for a in range(rank) if output[a] != data[a])
        if not axes:
            return None if output is None or len(output) != rank else 1  # all axes (keepdims), or nothing shrank
        return math.prod(data[max(a % rank for a in axes) + 1:])
    if op_type in _STRIDED:
        axis = attributes.get("axis", -1 if op_type != "Concat" else None)
        return None if not isinstance(axis, int) else math.prod(data[axis % rank + 1:])
    return None


@functools.singledispatch
def _op_features(layer: OtherLayer) -> dict[str, object]:
    """What sets an op family's cost beyond its element counts: a product's dims, a cell's, a resize's scales,
    the length of the axis a softmax or norm runs along. A family with a record of its own registers its dims."""
    attributes = dict(layer.attributes)
    data = layer.input_shapes[0] if layer.input_shapes else None
    if layer.op_type in BROADCASTING and layer.output_shapes:
        return {"broadcast_spans": broadcast_spans(layer.input_shapes, layer.output_shapes[0])}
    if layer.op_type in ("Resize", "Upsample") and data and layer.output_shapes:
        out = layer.output_shapes[0]
        scales = [round(o / i, 4) if i else 0.0 for i, o in zip(data, out, strict=False)]
        return {"resize_mode": attributes.get("mode", "nearest"), "scale_h": scales[-2] if len(scales) > 1 else 1.0,
                "scale_w": scales[-1], "scale_depth": scales[-3] if len(scales) > 4 else 1.0}
    if layer.op_type in _NORMALISED and data:
        axes = attributes.get("axes")
        if layer.op_type.startswith("Reduce"):
            axes = axes if isinstance(axes, tuple) else tuple(int(v) for v in dict(layer.constant_inputs).get(1, ())
                                                              if math.isfinite(v))
            axes = axes or tuple(range(len(data)))
        else:
            axis = attributes.get("axis", -1)
            axis = (axis if isinstance(axis, int) else -1) % len(data)
            axes = tuple(range(axis, len(data))) if "Normalization" in layer.op_type else (axis,)
        axis_size = math.prod(data[a % len(data)] for a in axes)
        inner = inner_elements(layer.op_type, attributes, data, axes=axes if layer.op_type.startswith("Reduce") else None)
        return {"axis_size": axis_size, "outer_rows": math.prod(data) // axis_size if axis_size else 0,
                "inner_elements": inner}
    # every other op inner_elements knows (a Transpose, Split, Concat, an instance or RMS norm), as training data
    # rows written without the column get it when loaded (estimator.train.data)
    if not data:
        return {}
    inner = inner_elements(layer.op_type, attributes, data, layer.output_shapes[0] if layer.output_shapes else None)
    return {} if inner is None else {"inner_elements": inner}


@_op_features.register(MatMulLayer)
def _matmul_features(layer: MatMulLayer) -> dict[str, object]:
    return {"matrices": layer.matrices, "m": layer.m, "k": layer.k, "n": layer.n,
            "b_is_constant": int(layer.b_is_constant), "equation": layer.equation}


@_op_features.register(RecurrentLayer)
def _recurrent_features(layer: RecurrentLayer) -> dict[str, object]:
    return {"sequence_length": layer.sequence_length, "rows": layer.rows, "input_features": layer.input_features,
            "hidden": layer.hidden, "directions": layer.directions, "gates": layer.gates}
