"""Layer records -> pandas DataFrames with the seed's columns first and ours after."""

from __future__ import annotations

import json
from collections.abc import Iterable

import pandas as pd

from graph.records import ConvLayer, DenseLayer, Layer, LayerType, OtherLayer, PoolLayer
from graph.schema import FEATURE_COLUMNS

__all__ = ["layer_row", "layers_to_frame", "shape_text"]


def layers_to_frame(layers: Iterable[Layer], layer_type: LayerType) -> pd.DataFrame:
    """One row per layer of `layer_type`: seed feature columns, `layer_name`, then extras.

    The measured targets (`power`, `runtime`) are not features; the collector inserts them
    before `layer_name` when it writes a CSV, which restores the seed's exact column order.
    """
    rows = [layer_row(layer) for layer in layers if layer.layer_type == layer_type]
    if rows:
        return pd.DataFrame(rows)
    return pd.DataFrame(columns=[*FEATURE_COLUMNS[layer_type], "layer_name"])


def layer_row(layer: Layer) -> dict[str, object]:
    """The flat feature row of one record (seed columns first, in order)."""
    if isinstance(layer, ConvLayer):
        return _conv_row(layer)
    if isinstance(layer, PoolLayer):
        return _pool_row(layer)
    if isinstance(layer, DenseLayer):
        return _dense_row(layer)
    if isinstance(layer, OtherLayer):
        return _other_row(layer)
    raise TypeError(f"not a layer record: {layer!r}")


def shape_text(shape: Iterable[int] | None) -> str:
    return "?" if shape is None else "x".join(str(d) for d in shape)


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


def _conv_row(layer: ConvLayer) -> dict[str, object]:
    input_elements = layer.batch_size * layer.input_chw[0] * layer.input_chw[1] * layer.input_chw[2]
    output_elements = layer.batch_size * layer.output_chw[0] * layer.output_chw[1] * layer.output_chw[2]
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
    }


def _pool_row(layer: PoolLayer) -> dict[str, object]:
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
        "output_elements": layer.batch_size * layer.output_chw[0] * layer.output_chw[1] * layer.output_chw[2],
    }


def _dense_row(layer: DenseLayer) -> dict[str, object]:
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


def _other_row(layer: OtherLayer) -> dict[str, object]:
    return {
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
        "input_shapes": ";".join(shape_text(s) for s in layer.input_shapes),
        "output_shapes": ";".join(shape_text(s) for s in layer.output_shapes),
        "attributes": json.dumps(dict(layer.attributes), sort_keys=True),
    }
