"""Model -> ModelLayers: load, fix shapes, run one handler per node."""

from __future__ import annotations

from graph.collector import collector_paused
from graph.context import GraphContext
from graph.inputs import fix_input_shapes
from graph.loading import ModelSource, default_opset, load_model
from graph.ops import handle_node
from graph.ops.qdq import absorbed_by_groups, qdq_groups, quantized_record
from graph.records import Layer, ModelLayers, UnmodeledNode

__all__ = ["extract_layers"]


@collector_paused()
def extract_layers(
    model: ModelSource,
    batch_size: int | None = None,
    input_shapes: dict[str, tuple[int, ...]] | None = None,
    dimensions: dict[str, int] | None = None,
) -> ModelLayers:
    """Read a model (path, bytes or ModelProto) and return its layers as typed records.

    A symbolic batch dimension takes `batch_size` (1 when not given, and reported as assumed);
    any other symbolic input dimension must be sized by name in `dimensions` or given in `input_shapes`.
    """
    loaded = load_model(model)
    label = loaded.label
    shaped = fix_input_shapes(loaded, batch_size, input_shapes, dimensions)
    del loaded  # the inferred copy is all that is needed from here on (a large graph's proto is costly)
    opset = default_opset(shaped.model) or 0
    ctx = GraphContext.from_shaped(shaped, label, opset)
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
            layers.append(quantized_record(result, groups[node.index]))
        else:
            layers.append(result)
    return ModelLayers(
        source=label,
        layers=tuple(layers),
        unmodeled=tuple(unmodeled),
        input_shapes=tuple(shaped.input_shapes.items()),
        batch_size=shaped.batch_size,
        batch_size_assumed=shaped.batch_size_assumed,
        opset=opset,
        node_count=len(ctx.nodes),
        batch_axes=tuple(shaped.batch_axes.items()),
        data_dependent=tuple(layer.name for layer in layers if ctx.is_data_dependent(layer.index)),
        absorbed_count=len(ctx.absorbed),
    )
