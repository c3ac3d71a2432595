"""Gemm, and MatMul by a 2-D constant weight (+ a constant bias Add) -> DenseLayer; their int8 forms
(QGemm, QLinearMatMul, MatMulInteger) likewise; a MatMul or Einsum of two activations -> MatMulLayer."""

from __future__ import annotations

import dataclasses
import math

from graph.context import GraphContext
from graph.ops.common import node_fields, unmodeled
from graph.ops.other import handle_other
from graph.records import DenseLayer, MatMulLayer, OtherLayer, UnmodeledNode
from graph.views import NodeView, present

__all__ = ["handle_einsum", "handle_gemm", "handle_matmul"]

_GEMM_OPERANDS = {"Gemm": (0, 1, 2), "QGemm": (0, 3, 6)}  # A, B, C
_MATMUL_OPERANDS = {"MatMul": (0, 1), "QLinearMatMul": (0, 3), "MatMulInteger": (0, 1)}  # A, B


def handle_gemm(ctx: GraphContext, node: NodeView) -> DenseLayer | UnmodeledNode:
    a_at, b_at, c_at = _GEMM_OPERANDS[node.op_type]
    a, b, bias = ctx.operand(node, a_at), ctx.operand(node, b_at), ctx.operand(node, c_at, required=False)
    trans_a, trans_b = ctx.integer(node, "transA", 0, 0, 1), ctx.integer(node, "transB", 0, 0, 1)
    a_shape, b_shape = ctx.shape(a), ctx.shape(b)
    if a_shape is None or b_shape is None:
        return unmodeled(node, "input shape unknown after shape inference")
    if len(a_shape) != 2 or len(b_shape) != 2:
        raise ctx.error(node, f"Gemm needs 2-D inputs, got {a_shape} and {b_shape}")
    rows, inner_a = (a_shape[1], a_shape[0]) if trans_a else a_shape
    inner_b, columns = (b_shape[1], b_shape[0]) if trans_b else b_shape
    if inner_a != inner_b:
        raise ctx.error(
            node, f"inner dimensions differ: A {a_shape} gives K={inner_a}, B {b_shape} gives K={inner_b}; check transA/transB"
        )
    return _record(ctx, node, a_shape, rows, inner_a, columns, bool(bias))


def handle_matmul(ctx: GraphContext, node: NodeView) -> DenseLayer | OtherLayer | UnmodeledNode:
    a_at, b_at = _MATMUL_OPERANDS[node.op_type]
    a, b = ctx.operand(node, a_at), ctx.operand(node, b_at)
    a_shape, b_shape = ctx.shape(a), ctx.shape(b)
    if a_shape is None or b_shape is None:
        return unmodeled(node, "input shape unknown after shape inference")
    if not a_shape or not b_shape:
        raise ctx.error(node, f"a product needs inputs of rank 1 or more, got {a_shape} and {b_shape}")
    if not ctx.is_constant(b) or len(b_shape) != 2 or len(a_shape) < 2:
        return _batched(ctx, node, a_shape, b_shape)  # a product of two activations (attention) is no Linear layer
    if a_shape[-1] != b_shape[0]:
        raise ctx.error(
            node, f"inner dimensions differ: input {a_shape} has K={a_shape[-1]}, weight {b_shape} has K={b_shape[0]}"
        )
    rows = math.prod(a_shape[:-1])
    bias_node = _bias_add(ctx, node, b_shape[1]) if node.op_type == "MatMul" else None
    if bias_node is not None:
        ctx.absorbed.add(bias_node)
    return _record(ctx, node, a_shape, rows, b_shape[0], b_shape[1], bias_node is not None)


def handle_einsum(ctx: GraphContext, node: NodeView) -> OtherLayer | UnmodeledNode:
    """A two-operand Einsum as a batched product: shared output letters are the batch, letters of one
    operand kept in the output are M or N, summed letters of both are K (others: an elementwise op)."""
    layer = handle_other(ctx, node)
    equation = str(node.attribute("equation", "")).replace(" ", "")
    if not isinstance(layer, OtherLayer) or "..." in equation or equation.count("->") != 1 or len(node.inputs) != 2:
        return layer
    terms, output = equation.split("->")
    if terms.count(",") != 1:
        return layer
    a_term, b_term = terms.split(",")
    a_shape, b_shape = layer.input_shapes
    if a_shape is None or b_shape is None or len(a_term) != len(a_shape) or len(b_term) != len(b_shape) \
            or not set(output) <= set(a_term + b_term):
        return layer
    size = {**dict(zip(b_term, b_shape, strict=True)), **dict(zip(a_term, a_shape, strict=True))}

    def product(letters) -> int:
        return math.prod(size[letter] for letter in set(letters))

    batch = [c for c in output if c in a_term and c in b_term]
    m = [c for c in output if c in a_term and c not in b_term]
    n = [c for c in output if c in b_term and c not in a_term]
    k = [c for c in a_term + b_term if c not in output]
    return MatMulLayer(**_other_fields(layer), matrices=product(batch), m=product(m), k=product(k), n=product(n),
                       b_is_constant=ctx.is_constant(node.input(1)), equation=equation)


def _batched(ctx: GraphContext, node: NodeView, a_shape, b_shape) -> OtherLayer | UnmodeledNode:
    layer = handle_other(ctx, node)
    if not isinstance(layer, OtherLayer):
        return layer
    a = (1, *a_shape) if len(a_shape) == 1 else tuple(a_shape)
    b = (*b_shape, 1) if len(b_shape) == 1 else tuple(b_shape)
    if a[-1] != b[-2]:
        raise ctx.error(node, f"inner dimensions differ: A {a_shape} has K={a[-1]}, B {b_shape} has K={b[-2]}")
    rank = max(len(a), len(b)) - 2
    a_batch, b_batch = (1,) * (rank + 2 - len(a)) + a[:-2], (1,) * (rank + 2 - len(b)) + b[:-2]
    batch_dims = [max(x, y) for x, y in zip(a_batch, b_batch, strict=True)]
    _, b_at = _MATMUL_OPERANDS[node.op_type]
    return MatMulLayer(**_other_fields(layer), matrices=math.prod(batch_dims), m=a[-2], k=a[-1], n=b[-1],
                       b_is_constant=ctx.is_constant(node.input(b_at)))


def _other_fields(layer: OtherLayer) -> dict[str, object]:
    return {field.name: getattr(layer, field.name) for field in dataclasses.fields(OtherLayer)}


def _bias_add(ctx: GraphContext, node: NodeView, out_features: int) -> int | None:
    """The index of an Add of a constant bias that alone consumes this MatMul's output."""
    output = node.outputs[0]
    consumers = ctx.consumers.get(output, [])
    if len(consumers) != 1:
        return None
    add = ctx.nodes[consumers[0]]
    if add.op_type != "Add" or not add.is_default_domain or len(present(add.inputs)) != 2 or add.index < node.index:
        return None  # (an Add listed before its MatMul has already been read as a layer of its own)
    other = add.inputs[1] if add.inputs[0] == output else add.inputs[0]
    bias_shape = ctx.shape(other)
    if not ctx.is_constant(other) or bias_shape is None or not bias_shape or bias_shape[-1] != out_features:
        return None
    if any(dim != 1 for dim in bias_shape[:-1]):
        return None  # broadcasting over rows too: not a per-feature bias
    return add.index


def _record(ctx: GraphContext, node: NodeView, input_shape, rows: int, in_features: int,
            out_features: int, has_bias: bool) -> DenseLayer:
    """`rows` are the rows actually computed; `batch_size` is the model's, the same for every layer."""
    return DenseLayer(
        **node_fields(ctx, node, ctx.batch_size),
        input_shape=tuple(input_shape),
        rows=rows,
        in_features=in_features,
        out_features=out_features,
        has_bias=has_bias,
    )
