"""Kernel records -> flat feature rows: the layer's row (seed columns first), then what the kernel adds."""

from __future__ import annotations

from graph.frames import layer_row, shape_text
from graph.kernels.records import Kernel
from graph.records import layer_kind

__all__ = ["KERNEL_COLUMNS", "kernel_row"]

KERNEL_COLUMNS = ("kernel_op", "layout", "input_layout", "activation", "has_summand", "physical_input_channels",
                  "physical_output_channels", "fused_nodes", "kernel_input_shape", "kernel_output_shape", "layer_kind")


def kernel_row(kernel: Kernel, described: bool = True) -> dict[str, object]:
    """The layer's feature row followed by the kernel's own columns (KERNEL_COLUMNS; `described`: see layer_row)."""
    row = layer_row(kernel.layer, described)
    row["kernel_op"] = kernel.op_type
    row["layout"] = kernel.layout
    row["input_layout"] = kernel.input_layout
    row["activation"] = kernel.activation or "none"
    row["has_summand"] = int(kernel.has_summand)
    row["physical_input_channels"] = _channels(kernel.input_shape)
    row["physical_output_channels"] = _channels(kernel.output_shape)
    row["fused_nodes"] = len(kernel.sources)
    if described:
        row["kernel_input_shape"] = shape_text(kernel.input_shape)
        row["kernel_output_shape"] = shape_text(kernel.output_shape)
    row["layer_kind"] = layer_kind(kernel.layer)
    return row


def _channels(shape) -> int:
    return int(shape[1]) if shape is not None and len(shape) >= 2 else 0
