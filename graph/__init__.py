"""graph: read an ONNX model into typed per-layer records (the only package touching protobuf)."""

from __future__ import annotations

from graph.errors import GraphError, ModelLoadError, NodeError, ShapeError
from graph.extract import extract_layers
from graph.frames import layer_row, layers_to_frame
from graph.loading import LoadedModel, load_model
from graph.records import (
    ConvLayer,
    DenseLayer,
    Layer,
    LayerType,
    MatMulLayer,
    ModelLayers,
    OtherLayer,
    PoolLayer,
    RecurrentLayer,
    UnmodeledNode,
    is_costed,
    layer_kind,
)
from graph.schema import CSV_FILES, FEATURE_COLUMNS, LAYER_TYPES, SEED_COLUMNS, TARGET_COLUMNS

__all__ = [
    "CSV_FILES",
    "FEATURE_COLUMNS",
    "LAYER_TYPES",
    "SEED_COLUMNS",
    "TARGET_COLUMNS",
    "ConvLayer",
    "DenseLayer",
    "GraphError",
    "Layer",
    "LayerType",
    "LoadedModel",
    "MatMulLayer",
    "ModelLayers",
    "ModelLoadError",
    "NodeError",
    "OtherLayer",
    "PoolLayer",
    "RecurrentLayer",
    "ShapeError",
    "UnmodeledNode",
    "extract_layers",
    "is_costed",
    "layer_kind",
    "layer_row",
    "layers_to_frame",
    "load_model",
]
