"""Gemm, and MatMul by a 2-D constant weight (+ a constant bias Add) -> DenseLayer."""

from __future__ import annotations

import math

from graph.context import GraphContext, NodeView
from graph.ops.common import data_type, unmodeled
from graph.ops.other import handle_other
from graph.records import DenseLayer, OtherLayer, UnmodeledNode

__all__ = ["handle_gemm", "handle_matmul"]


def handle_gemm(ctx: GraphContext, node: NodeView) -> DenseLayer | UnmodeledNode:
    a_shape, b_shape = ctx.shape(node.inputs[0]), ctx.shape(node.inputs[1])
    if a_shape is None or b_shape is None:
        return unmodeled(node, "input shape unknown after shape inference")
    if len(a_shape) != 2 or len(b_shape) != 2:
        raise ctx.error(node, f"Gemm needs 2-D inputs, got {a_shape} and {b_shape}")
    rows, inner_a = (a_shape[1], a_shape[0]) if node.attribute("transA", 0) else a_shape
    inner_b, columns = (b_shape[1], b_shape[0]) if node.attribute("transB", 0) else b_shape
    if inner_a != inner_b:
        raise ctx.error(
            node, f"inner dimensions differ: A {a_shape} gives K={inner_a}, B {b_shape} gives K={inner_b}; check transA/transB"
        )
    has_bias = len(node.inputs) > 2 and bool(node.inputs[2])
    return _record(ctx, node, a_shape, rows, inner_a, columns, has_bias, batch_size=rows)


def handle_matmul(ctx: GraphContext, node: NodeView) -> DenseLayer | OtherLayer | UnmodeledNode:
    a_shape, b_shape = ctx.shape(node.inputs[0]), ctx.shape(node.inputs[1])
    if not ctx.is_constant(node.inputs[1]) or b_shape is None or len(b_shape) != 2:
        return handle_other(ctx, node)  # a MatMul of two activations (e.g. attention) is no Linear layer
    if a_shape is None:
        return unmodeled(node, "input shape unknown after shape inference")
    if len(a_shape) < 2:
        return handle_other(ctx, node)
    if a_shape[-1] != b_shape[0]:
        raise ctx.error(
            node, f"inner dimensions differ: input {a_shape} has K={a_shape[-1]}, weight {b_shape} has K={b_shape[0]}"
        )
    rows = math.prod(a_shape[:-1])
    bias_node = _bias_add(ctx, node, b_shape[1])
    if bias_node is not None:
        ctx.absorbed.add(bias_node)
    return _record(ctx, node, a_shape, rows, b_shape[0], b_shape[1], bias_node is not None)


def _bias_add(ctx: GraphContext, node: NodeView, out_features: int) -> int | None:
    """The index of an Add of a constant bias that alone consumes this MatMul's output."""
    consumers = ctx.consumers.get(node.proto.output[0], [])
    if len(consumers) != 1:
        return None
    add = ctx.nodes[consumers[0]]
    if add.op_type != "Add" or add.proto.domain not in ("", "ai.onnx") or len(add.inputs) != 2:
        return None
    other = add.inputs[1] if add.inputs[0] == node.proto.output[0] else add.inputs[0]
    bias_shape = ctx.shape(other)
    if not ctx.is_constant(other) or bias_shape is None or not bias_shape or bias_shape[-1] != out_features:
        return None
    if any(dim != 1 for dim in bias_shape[:-1]):
        return None  # broadcasting over rows too: not a per-feature bias
    return add.index


def _record(ctx: GraphContext, node: NodeView, input_shape, rows: int, in_features: int,
            out_features: int, has_bias: bool, batch_size: int | None = None) -> DenseLayer:
    dtype, dtype_bytes = data_type(ctx, node.inputs[0])
    return DenseLayer(
        name=node.name,
        op_type=node.op_type,
        index=node.index,
        dtype=dtype,
        batch_size=input_shape[0] if batch_size is None else batch_size,
        input_shape=tuple(input_shape),
        rows=rows,
        in_features=in_features,
        out_features=out_features,
        has_bias=has_bias,
        dtype_bytes=dtype_bytes,
    )
