"""Layer frames -> model feature matrices: the seed's columns plus derived ones.

Derived features only need the seed's columns, so a folder in the seed's layout (no extra
columns) is featurised the same way; our extra columns refine them where present. Each unit of
estimation (estimator.predict.units) holds its tables and featurize function from here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from estimator.predict.op_classes import OP_CLASSES, UNCLASSED
from graph.schema import FEATURE_COLUMNS

__all__ = ["CATEGORICAL", "FEATURES", "KERNEL_CATEGORICAL", "KERNEL_FEATURES", "featurize_kernels", "featurize_layers",
           "kernel_input_columns", "layer_input_columns"]

_CONV_EXTRA = ("groups", "dilation_0", "dilation_1", "input_elements", "output_elements", "weight_elements", "macs",
               "arithmetic_intensity", "channels_per_group", "output_channels_per_group", "unfolded_elements")
_POOL_EXTRA = ("pool_kind", "is_global", "padding_0", "padding_1", "input_elements", "output_elements", "window_ops")
_DENSE_EXTRA = ("rows", "in_features", "out_features", "macs", "weight_elements", "arithmetic_intensity", "input_elements",
                "output_elements")
_OTHER_EXTRA = ("elements_per_sample",)

FEATURES: dict[str, tuple[str, ...]] = {
    "convolutional": (*FEATURE_COLUMNS["convolutional"], *_CONV_EXTRA),
    "pooling": (*FEATURE_COLUMNS["pooling"], *_POOL_EXTRA),
    "dense": (*FEATURE_COLUMNS["dense"], *_DENSE_EXTRA),
    "other": (*FEATURE_COLUMNS["other"], *_OTHER_EXTRA),
}
CATEGORICAL: dict[str, tuple[str, ...]] = {
    "convolutional": (),
    "pooling": ("pool_kind",),
    "dense": (),
    "other": ("op_type",),
}


# What a kernel adds to its layer's features (graph.kernels.frames.KERNEL_COLUMNS): the runtime's op,
# its layout, a fused activation or summand, and the channels as the runtime holds them (padded).
_KERNEL_CATEGORICAL = ("kernel_op", "layout", "input_layout", "activation")
_KERNEL_NUMERIC = ("has_summand", "physical_input_channels", "physical_output_channels", "fused_nodes")
# What sets the cost of the newer op families (graph.frames.layer_row's extra columns), per layer type, with
# the value a row without the column takes (a 2-D layer has depth 1; a non-product has no m, k, n).
_FAMILY_NUMERIC: dict[str, dict[str, float]] = {
    "convolutional": {"spatial_rank": 2, "input_depth": 1, "output_depth": 1, "kernel_depth": 1, "stride_depth": 1,
                      "transposed": 0, "is_int8": 0},
    "pooling": {"spatial_rank": 2, "input_depth": 1, "output_depth": 1, "kernel_depth": 1},
    "dense": {"is_int8": 0},
    "other": {"matrices": 0, "m": 0, "k": 0, "n": 0, "sequence_length": 0, "hidden": 0, "directions": 0,
              "gates": 0, "scale_h": 0, "scale_w": 0, "axis_size": 0, "outer_rows": 0, "macs": 0, "is_int8": 0,
              "broadcast_spans": 0, "inner_elements": 0},
}
# The kind of loop an `other` kernel's op runs (estimator.predict.op_classes): what ops measured rarely or never share.
_FAMILY_CATEGORICAL: dict[str, tuple[str, ...]] = {"other": ("op_class",)}
# Elements that cost more than an op's others, in columns of their own so each op's linear baseline charges them
# apart and the cost keeps its slope past the largest measured size: those an axis op reads strided, its axis not
# the innermost (inner_elements > 1: ONNX Runtime transposes a softmax over another axis there and back, ~7 ns an
# element for YOLO's DFL against under 1 over the last axis; a reduction runs a strided loop), and those a Resize
# interpolates (linear or cubic: ~0.45 ns an output element where nearest copies at ~0.15).
_FAMILY_DERIVED: dict[str, tuple[str, ...]] = {"other": ("strided_elements", "interpolated_elements")}
_FAMILY_READ: dict[str, tuple[str, ...]] = {"other": ("resize_mode",)}  # what the derived columns read beyond the above
KERNEL_FEATURES: dict[str, tuple[str, ...]] = {
    layer_type: (*names, *_KERNEL_CATEGORICAL, *_KERNEL_NUMERIC, *_FAMILY_NUMERIC[layer_type],
                 *_FAMILY_CATEGORICAL.get(layer_type, ()), *_FAMILY_DERIVED.get(layer_type, ()))
    for layer_type, names in FEATURES.items()
}
KERNEL_CATEGORICAL: dict[str, tuple[str, ...]] = {
    layer_type: (*names, *_KERNEL_CATEGORICAL, *_FAMILY_CATEGORICAL.get(layer_type, ()))
    for layer_type, names in CATEGORICAL.items()
}


# What a layer of each type reads beyond the seed's columns (any layer type; absent ones take defaults), and what
# composition groups read (estimator.predict.composition).
_READ_EXTRA = ("groups", "dilation_0", "dilation_1", "pool_kind", "is_global", "padding_0", "padding_1", "rows",
               "in_features", "out_features", "dtype", "producer_op", "output_depth", "kernel_depth")


def layer_input_columns(layer_type: str) -> frozenset[str]:
    """Every column of a layer frame that featurize_layers() and composition groups read: a frame of only these
    scores the same (tests/estimator/predict/test_estimate_many.py checks it on every committed graph)."""
    return frozenset((*FEATURE_COLUMNS[layer_type], *_READ_EXTRA))


def kernel_input_columns(layer_type: str) -> frozenset[str]:
    """layer_input_columns() and the kernel's own columns that featurize_kernels() reads."""
    return layer_input_columns(layer_type) | {*_KERNEL_CATEGORICAL, *_KERNEL_NUMERIC, *_FAMILY_NUMERIC[layer_type],
                                              *_FAMILY_READ.get(layer_type, ())}


def featurize_layers(frame: pd.DataFrame, layer_type: str) -> pd.DataFrame:
    """A layer frame's feature matrix: the columns FEATURES[layer_type], in order."""
    return _finished(_derived(frame, layer_type), FEATURES[layer_type], CATEGORICAL[layer_type])


def featurize_kernels(frame: pd.DataFrame, layer_type: str) -> pd.DataFrame:
    """A kernel frame's feature matrix: its layer's features and what the kernel adds (KERNEL_FEATURES[layer_type])."""
    out = _derived(frame, layer_type)
    for column in _KERNEL_CATEGORICAL:
        out[column] = frame[column] if column in frame.columns else "none"
    for column in _KERNEL_NUMERIC:
        out[column] = _column(frame, column, 0.0)
    for column, default in _FAMILY_NUMERIC[layer_type].items():
        out[column] = _column(frame, column, float(default))
    if "dtype" in frame.columns:
        out["is_int8"] = frame["dtype"].isin(("int8", "uint8")).astype("float64")
    if "op_class" in _FAMILY_CATEGORICAL.get(layer_type, ()):
        out["op_class"] = _kernel_ops(frame).map(OP_CLASSES).fillna(UNCLASSED)
    if layer_type == "other":
        out["strided_elements"] = out["input_elements"] * (out["inner_elements"] > 1)
        interpolating = frame["resize_mode"].isin(("linear", "cubic")) if "resize_mode" in frame.columns else False
        out["interpolated_elements"] = out["output_elements"] * interpolating
    return _finished(out, KERNEL_FEATURES[layer_type], KERNEL_CATEGORICAL[layer_type])


def _derived(frame: pd.DataFrame, layer_type: str) -> pd.DataFrame:
    """The seed's columns of `frame` and the features derived from them."""
    out = frame.reindex(columns=list(FEATURE_COLUMNS[layer_type])).copy()
    _DERIVE[layer_type](frame, out)
    return out


def _finished(out: pd.DataFrame, names: tuple[str, ...], categorical: tuple[str, ...]) -> pd.DataFrame:
    """`names` of `out`, in order: categorical columns as text (missing: "unknown"), the others as floats."""
    for column in categorical:
        out[column] = out[column].fillna("unknown").astype(str)
    numeric = [c for c in names if c not in categorical]
    out[numeric] = out[numeric].astype("float64")
    return out[list(names)]


def _kernel_ops(frame: pd.DataFrame) -> pd.Series:
    """Each row's op as the runtime runs it: its kernel op, else (a layer row) its node's op."""
    if "kernel_op" not in frame.columns:
        return frame["op_type"]
    return frame["kernel_op"].fillna(frame["op_type"]) if "op_type" in frame.columns else frame["kernel_op"]


def _column(frame: pd.DataFrame, name: str, default: float) -> pd.Series:
    if name in frame.columns:
        return frame[name].fillna(default).astype("float64")
    return pd.Series(default, index=frame.index, dtype="float64")


def _conv(frame: pd.DataFrame, out: pd.DataFrame) -> None:
    batch = out["batch_size"].astype("float64")
    groups = _column(frame, "groups", 1.0)
    out["groups"] = groups
    out["dilation_0"] = _column(frame, "dilation_0", 1.0)
    out["dilation_1"] = _column(frame, "dilation_1", 1.0)
    out["input_elements"] = batch * out["input_size_0"] * out["input_size_1"] * out["input_size_2"]
    out["output_elements"] = batch * out["output_size_0"] * out["output_size_1"] * out["output_size_2"]
    out["channels_per_group"] = out["input_size_0"] / groups
    out["weight_elements"] = out["output_size_0"] * out["channels_per_group"] * out["kernel_0"] * out["kernel_1"]
    out["macs"] = out["output_elements"] * out["channels_per_group"] * out["kernel_0"] * out["kernel_1"]
    # A convolution is a matrix product per group: (output channels per group) x (channels per group x window) times
    # (window x output positions), the latter unfolded from the input (im2col) or packed, once per group. Few output
    # channels per group (grouped, depthwise, a 1x1 to 4-14 channels) leave the product's rows short, and the
    # unfolded elements, not the MACs, set the time.
    out["output_channels_per_group"] = out["output_size_0"] / groups
    depth = _column(frame, "output_depth", 1.0) * _column(frame, "kernel_depth", 1.0)  # a 3-D conv's third axis
    out["unfolded_elements"] = out["macs"] * depth / out["output_channels_per_group"]
    moved = out["input_elements"] + out["output_elements"] + out["weight_elements"]
    out["arithmetic_intensity"] = out["macs"] / moved


def _pool(frame: pd.DataFrame, out: pd.DataFrame) -> None:
    batch = out["batch_size"].astype("float64")
    out["pool_kind"] = frame["pool_kind"] if "pool_kind" in frame.columns else "unknown"
    out["is_global"] = _column(frame, "is_global", np.nan)
    if "is_global" not in frame.columns:
        out["is_global"] = ((out["output_size_1"] == 1) & (out["output_size_2"] == 1)).astype("float64")
    out["padding_0"] = _column(frame, "padding_0", 0.0)
    out["padding_1"] = _column(frame, "padding_1", 0.0)
    out["input_elements"] = batch * out["input_size_0"] * out["input_size_1"] * out["input_size_2"]
    out["output_elements"] = batch * out["output_size_0"] * out["output_size_1"] * out["output_size_2"]
    out["window_ops"] = out["output_elements"] * out["kernel_0"] * out["kernel_1"]


def _dense(frame: pd.DataFrame, out: pd.DataFrame) -> None:
    batch = out["batch_size"].astype("float64")
    # The seed's dense rows are rank-2 (batch, features): rows = batch when no extra columns exist.
    out["rows"] = _column(frame, "rows", np.nan).fillna(batch)
    out["in_features"] = _column(frame, "in_features", np.nan).fillna(out["input_size"] / out["rows"])
    out["out_features"] = _column(frame, "out_features", np.nan).fillna(out["output_size"] / out["rows"])
    out["macs"] = out["rows"] * out["in_features"] * out["out_features"]
    out["weight_elements"] = out["in_features"] * out["out_features"]
    out["arithmetic_intensity"] = out["macs"] / (out["input_size"] + out["output_size"] + out["weight_elements"])
    # The activations read and written: a product of many rows and few features (ConvNeXt's pointwise MLPs over
    # every pixel) streams them through memory rather than computing (the linear baseline's memory terms).
    out["input_elements"] = out["rows"] * out["in_features"]
    out["output_elements"] = out["rows"] * out["out_features"]


def _other(frame: pd.DataFrame, out: pd.DataFrame) -> None:
    out["elements_per_sample"] = out["output_elements"] / out["batch_size"].clip(lower=1)


_DERIVE = {"convolutional": _conv, "pooling": _pool, "dense": _dense, "other": _other}
