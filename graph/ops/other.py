"""Every remaining compute node -> OtherLayer (or UnmodeledNode with the reason)."""

from __future__ import annotations

import math

import onnx

from graph.context import GraphContext, dtype_name_and_bytes
from graph.ops.common import node_fields, unmodeled
from graph.records import OtherLayer, UnmodeledNode
from graph.views import NodeView, attribute_value, present, text

__all__ = ["FREE_OPS", "KNOWN_CUSTOM_OPS", "handle_other", "other_unmodeled"]

# Constant-like and shape-only ops: counted, cost nothing (runtimes alias or fold them).
FREE_OPS = frozenset({
    "Constant", "ConstantOfShape", "Identity", "Shape", "Size", "Dropout", "Reshape", "Flatten",
    "Squeeze", "Unsqueeze", "EyeLike", "Optional", "OptionalGetElement", "OptionalHasElement",
})
# ONNX Runtime's int8 elementwise ops (com.microsoft), as its quantizer writes them: modeled like any other op.
KNOWN_CUSTOM_OPS = frozenset(("com.microsoft", op) for op in (
    "QLinearAdd", "QLinearMul", "QLinearSigmoid", "QLinearLeakyRelu", "QLinearConcat", "QLinearSoftmax",
    "QLinearWhere", "QLinearReduceMean"))
_SHAPE_TENSOR_ELEMENTS = 64
_INTEGER_TYPES = frozenset({onnx.TensorProto.INT64, onnx.TensorProto.INT32})


def other_unmodeled(ctx: GraphContext, node: NodeView) -> UnmodeledNode | None:
    """Why handle_other would leave `node` unmodeled (None: it would not), without building its record."""
    return _unmodeled(node, _output_shapes(ctx, node))


def _output_shapes(ctx: GraphContext, node: NodeView) -> list[tuple[str, tuple[int, ...] | None]]:
    return [(name, ctx.shape(name)) for name in present(node.outputs)]


def _unmodeled(node: NodeView, outputs: list[tuple[str, tuple[int, ...] | None]]) -> UnmodeledNode | None:
    if not node.is_default_domain and (node.domain, node.op_type) not in KNOWN_CUSTOM_OPS:
        return unmodeled(node, f"op of custom domain {node.domain!r} is not modeled")
    if node.has_subgraphs:
        return unmodeled(node, "control flow with subgraphs is not modeled")
    unknown = next((name for name, shape in outputs if shape is None), None)
    if unknown is not None:
        return unmodeled(node, f"shape of output {unknown!r} unknown after shape inference")
    return None


def handle_other(ctx: GraphContext, node: NodeView) -> OtherLayer | UnmodeledNode:
    outputs = _output_shapes(ctx, node)
    reason = _unmodeled(node, outputs)
    if reason is not None:
        return reason
    output_shapes = [shape for _, shape in outputs]
    input_shapes = tuple(ctx.shape(name) for name in node.inputs)
    constant_inputs = []
    for position, name in enumerate(node.inputs):
        values = ctx.constant_values(name)
        if values is not None:
            constant_inputs.append((position, tuple(float(v) for v in values.reshape(-1))))
    attributes = tuple(
        (text(a.name), value)
        for a in node.proto.attribute
        if isinstance(value := attribute_value(a), (int, float, str, tuple))
    )
    return OtherLayer(
        **node_fields(ctx, node, ctx.batch_size),
        input_shapes=input_shapes,
        input_dtypes=tuple(dtype_name_and_bytes(ctx.elem_type(name))[0] for name in node.inputs),
        output_shapes=tuple(output_shapes),
        attributes=attributes,
        constant_inputs=tuple(constant_inputs),
        is_free=_is_free(ctx, node, output_shapes),
        producer_op=ctx.producer_op(node.input(0)),
    )


def _is_free(ctx: GraphContext, node: NodeView, output_shapes) -> bool:
    if node.op_type in FREE_OPS:
        return True
    real_inputs = present(node.inputs)
    if real_inputs and all(ctx.is_constant(name) for name in real_inputs):
        return True  # folded away by any runtime's constant folding
    outputs = present(node.outputs)
    return all(
        ctx.elem_type(name) in _INTEGER_TYPES and math.prod(shape) <= _SHAPE_TENSOR_ELEMENTS
        for name, shape in zip(outputs, output_shapes, strict=True)
    )
