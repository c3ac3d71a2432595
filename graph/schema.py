"""The per-layer CSV schema: the seed's columns (names, order, units) and the ones we add."""

from __future__ import annotations

from graph.records import LayerType

__all__ = ["CSV_FILES", "FEATURE_COLUMNS", "LAYER_TYPES", "SEED_COLUMNS", "TARGET_COLUMNS"]

LAYER_TYPES: tuple[LayerType, ...] = ("convolutional", "pooling", "dense", "other")

# power: microwatts (µW), the device's total power while the layer runs; runtime: milliseconds.
TARGET_COLUMNS = ("power", "runtime")

SEED_COLUMNS: dict[LayerType, tuple[str, ...]] = {
    "convolutional": (
        "batch_size", "input_size_0", "input_size_1", "input_size_2",
        "output_size_0", "output_size_1", "output_size_2", "kernel_0", "kernel_1",
        "padding_0", "padding_1", "stride_0", "stride_1", "power", "runtime", "layer_name",
    ),
    "pooling": (
        "batch_size", "input_size_0", "input_size_1", "input_size_2",
        "output_size_0", "output_size_1", "output_size_2", "kernel_0", "kernel_1",
        "stride_0", "stride_1", "power", "runtime", "layer_name",
    ),
    "dense": ("batch_size", "input_size", "output_size", "power", "runtime", "layer_name"),
    # Not in the seed: the project's own schema for every other compute node.
    "other": (
        "batch_size", "op_type", "input_elements", "output_elements", "num_inputs",
        "power", "runtime", "layer_name",
    ),
}

# The seed's feature columns: its columns minus the measured targets and the name.
FEATURE_COLUMNS: dict[LayerType, tuple[str, ...]] = {
    layer_type: tuple(c for c in columns if c not in TARGET_COLUMNS and c != "layer_name")
    for layer_type, columns in SEED_COLUMNS.items()
}

CSV_FILES: dict[LayerType, str] = {layer_type: f"{layer_type}.csv" for layer_type in LAYER_TYPES}
