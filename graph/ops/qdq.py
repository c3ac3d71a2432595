"""QDQ groups: DequantizeLinear -> op -> QuantizeLinear, which ONNX Runtime runs as one int8 kernel.

A QDQ model keeps float ops between Q/DQ pairs; when it loads, ONNX Runtime's QDQ selectors turn
each group into a quantized kernel (Conv -> QLinearConv, Add -> QLinearAdd, ...) or run the op on
the int8 data directly and drop the pair (MaxPool, Reshape, Flatten, ...). Layer records of such
ops carry the int8 type, and their Q/DQ nodes cost nothing on their own (they are the kernel's).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import onnx

from graph.context import GraphContext, dtype_name_and_bytes
from graph.records import Layer
from graph.views import NodeView, present

__all__ = ["QDQ_KERNELS", "QdqGroup", "absorbed_by_groups", "qdq_groups", "quantized_record"]

# Float op -> the int8 kernel ONNX Runtime runs for it (its QDQ selectors); the data inputs read through DQ.
QDQ_KERNELS: dict[str, tuple[str, tuple[int, ...]]] = {
    "Conv": ("QLinearConv", (0, 1)),
    "MatMul": ("QLinearMatMul", (0, 1)),
    "Gemm": ("QGemm", (0, 1)),
    "Add": ("QLinearAdd", (0, 1)),
    "Mul": ("QLinearMul", (0, 1)),
    "AveragePool": ("QLinearAveragePool", (0,)),
    "GlobalAveragePool": ("QLinearGlobalAveragePool", (0,)),
    "LeakyRelu": ("QLinearLeakyRelu", (0,)),
    "Sigmoid": ("QLinearSigmoid", (0,)),
    "Softmax": ("QLinearSoftmax", (0,)),
    "Concat": ("QLinearConcat", ()),  # every input
}
# Ops that move or select int8 data as they are: the runtime drops the DQ before and the Q after them.
QDQ_DROPPED = frozenset({"MaxPool", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Gather", "Resize",
                         "Slice", "Expand", "SpaceToDepth", "DepthToSpace", "Split"})
_INT8 = frozenset({onnx.TensorProto.INT8, onnx.TensorProto.UINT8})


@dataclass(frozen=True)
class QdqGroup:
    """One op with the DQ nodes that feed it and the Q node after it (node indices), and its int8 type."""

    core: int
    kernel: str  # the runtime's op: QLinearConv, ..., or the op's own type when the pair is dropped
    dequantize: tuple[int, ...]
    quantize: int
    dtype: int  # element type of the quantized activation


def qdq_groups(ctx: GraphContext) -> dict[int, QdqGroup]:
    """Every QDQ group of the graph, by the index of its op."""
    groups: dict[int, QdqGroup] = {}
    if not any(node.op_type == "DequantizeLinear" for node in ctx.nodes):
        return groups  # every group starts at one (most graphs have none)
    for node in ctx.nodes:
        if not node.is_default_domain:
            continue
        if node.op_type in QDQ_KERNELS:
            kernel, positions = QDQ_KERNELS[node.op_type]
            data = present(node.inputs) if not positions else \
                [node.inputs[p] for p in positions if p < len(node.inputs)]
        elif node.op_type in QDQ_DROPPED:
            kernel, data = node.op_type, node.inputs[:1]
        else:
            continue
        group = _group(ctx, node, kernel, data)
        if group is not None:
            groups[node.index] = group
    return groups


def _group(ctx: GraphContext, node: NodeView, kernel: str, data: list[str]) -> QdqGroup | None:
    dequantize = [_producer(ctx, name, "DequantizeLinear") for name in data]
    if not data or any(index is None for index in dequantize):
        return None
    outputs = [name for name in node.outputs if name]
    readers = ctx.consumers.get(outputs[0], []) if len(outputs) == 1 else []
    if len(readers) != 1 or ctx.nodes[readers[0]].op_type != "QuantizeLinear":
        return None
    source = next(iter(ctx.nodes[dequantize[0]].inputs), "")
    if ctx.elem_type(source) not in _INT8:
        return None
    extra = [_producer(ctx, name, "DequantizeLinear") for name in node.inputs[2:3]] if node.op_type in (
        "Conv", "Gemm") else []  # an int32 bias through its own DQ
    indices = tuple(index for index in [*dequantize, *extra] if index is not None)
    return QdqGroup(node.index, kernel, indices, readers[0], ctx.elem_type(source))


def _producer(ctx: GraphContext, tensor: str, op_type: str) -> int | None:
    index = ctx.producers.get(tensor)
    return index if index is not None and ctx.nodes[index].op_type == op_type else None


def absorbed_by_groups(ctx: GraphContext, groups: dict[int, QdqGroup]) -> set[int]:
    """The Q nodes of QDQ groups, and the DQ nodes whose every reader is a group's op (the runtime fuses them)."""
    absorbed = {group.quantize for group in groups.values()}
    for group in groups.values():
        for index in group.dequantize:
            outputs = ctx.nodes[index].outputs
            readers = ctx.consumers.get(outputs[0], []) if outputs else []
            if readers and all(reader in groups for reader in readers):
                absorbed.add(index)
    return absorbed


def quantized_record(layer: Layer, group: QdqGroup) -> Layer:
    """The op's record with the int8 element type ONNX Runtime runs it in."""
    if not hasattr(layer, "dtype_bytes"):
        return layer
    dtype, dtype_bytes = dtype_name_and_bytes(group.dtype)
    return dataclasses.replace(layer, dtype=dtype, dtype_bytes=dtype_bytes)
