"""Model -> ModelLayers: load, fix shapes, run one handler per node."""

from __future__ import annotations

import dataclasses

from graph.context import GraphContext, dtype_name_and_bytes
from graph.inputs import fix_input_shapes
from graph.loading import ModelSource, default_opset, load_model
from graph.ops import handle_node
from graph.ops.qdq import QdqGroup, qdq_groups
from graph.records import Layer, ModelLayers, UnmodeledNode

__all__ = ["extract_layers"]


def extract_layers(
    model: ModelSource,
    batch_size: int | None = None,
    input_shapes: dict[str, tuple[int, ...]] | None = None,
) -> ModelLayers:
    """Read a model (path, bytes or ModelProto) and return its layers as typed records.

    A symbolic batch dimension takes `batch_size` (1 when not given, and reported as assumed);
    any other symbolic input dimension must be given in `input_shapes`.
    """
    if batch_size is not None and batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    loaded = load_model(model)
    shaped = fix_input_shapes(loaded, batch_size, input_shapes)
    opset = default_opset(shaped.model) or 0
    ctx = GraphContext.from_shaped(shaped, loaded.label, opset)
    groups = qdq_groups(ctx)
    ctx.absorbed.update(absorbed_by_groups(ctx, groups))
    layers: list[Layer] = []
    unmodeled: list[UnmodeledNode] = []
    for node in ctx.nodes:
        if node.index in ctx.absorbed:
            continue
        result = handle_node(ctx, node)
        if isinstance(result, UnmodeledNode):
            unmodeled.append(result)
        elif node.index in groups:
            layers.append(_quantized(result, groups[node.index]))
        else:
            layers.append(result)
    return ModelLayers(
        source=loaded.label,
        layers=tuple(layers),
        unmodeled=tuple(unmodeled),
        input_shapes=tuple(shaped.input_shapes.items()),
        batch_size=shaped.batch_size,
        batch_size_assumed=shaped.batch_size_assumed,
        opset=opset,
        node_count=len(ctx.nodes),
        batch_axes=tuple(shaped.batch_axes.items()),
        data_dependent=tuple(layer.name for layer in layers if ctx.is_data_dependent(layer.index)),
    )


def absorbed_by_groups(ctx: GraphContext, groups: dict[int, QdqGroup]) -> set[int]:
    """The Q nodes of QDQ groups, and the DQ nodes whose every reader is a group's op (the runtime fuses them)."""
    absorbed = {group.quantize for group in groups.values()}
    for group in groups.values():
        for index in group.dequantize:
            readers = ctx.consumers.get(ctx.nodes[index].proto.output[0], [])
            if readers and all(reader in groups for reader in readers):
                absorbed.add(index)
    return absorbed


def _quantized(layer: Layer, group: QdqGroup) -> Layer:
    """The op's record with the int8 element type ONNX Runtime runs it in."""
    dtype, dtype_bytes = dtype_name_and_bytes(group.dtype)
    return dataclasses.replace(layer, dtype=dtype, dtype_bytes=dtype_bytes) if hasattr(layer, "dtype_bytes") else layer
