"""Output types of ops ONNX has no schema for: ONNX Runtime's com.microsoft quantized and fused ops.

Each rule takes the node, its inputs' dims (None: unknown) and element types, and returns one
(element type, dims) per output. Used by graph/shapes.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import onnx

from graph.ops.window import window_geometry

__all__ = ["CUSTOM_RULES", "Dims"]

Dims = tuple[int | None, ...]
Rule = Callable[[onnx.NodeProto, Sequence[Dims | None], Sequence[int]], list[tuple[int, Dims | None]]]
_MS = "com.microsoft"


def _attribute(node: onnx.NodeProto, name: str, default):
    for attribute in node.attribute:
        if attribute.name == name:
            return onnx.helper.get_attribute_value(attribute)
    return default


def broadcast(*shapes: Dims) -> Dims:
    """Numpy broadcasting of dims (None stays unknown)."""
    rank = max(len(shape) for shape in shapes)
    out: list[int | None] = []
    for axis in range(rank):
        sizes = [shape[axis - rank + len(shape)] for shape in shapes if axis - rank + len(shape) >= 0]
        if any(size is None for size in sizes):
            out.append(None)
            continue
        larger = {size for size in sizes if size != 1}
        if len(larger) > 1:
            raise ValueError(f"shapes {shapes} do not broadcast")
        out.append(larger.pop() if larger else 1)
    return tuple(out)


def _like_first(node, dims, types):
    return [(types[0], dims[0])]


def _binary_quantized(node, dims, types):  # A, A_scale, A_zp, B, B_scale, B_zp, C_scale, C_zp
    return [(types[0], broadcast(dims[0], dims[3]))]


def _global_pool(node, dims, types):
    shape = dims[0]
    if _attribute(node, "channels_last", 0):
        return [(types[0], (shape[0], *([1] * (len(shape) - 2)), shape[-1]))]
    return [(types[0], (shape[0], shape[1], *([1] * (len(shape) - 2))))]


def _average_pool(node, dims, types):
    shape = dims[0]
    channels_last = bool(_attribute(node, "channels_last", 0))
    spatial = shape[1:-1] if channels_last else shape[2:]
    kernel = tuple(_attribute(node, "kernel_shape", ()))
    rank = len(kernel)
    pads = tuple(_attribute(node, "pads", (0,) * (2 * rank)))
    _, _, outputs = window_geometry(spatial, kernel, tuple(_attribute(node, "strides", (1,) * rank)), (1,) * rank,
                                    pads, _attribute(node, "auto_pad", "NOTSET") or "NOTSET",
                                    bool(_attribute(node, "ceil_mode", 0)))
    if channels_last:
        return [(types[0], (shape[0], *outputs, shape[-1]))]
    return [(types[0], (shape[0], shape[1], *outputs))]


def _concat(node, dims, types):  # Y_scale, Y_zp, then (X, X_scale, X_zp) per input
    tensors = [dims[index] for index in range(2, len(dims), 3)]
    axis = int(_attribute(node, "axis", 0)) % len(tensors[0])
    total = None if any(t[axis] is None for t in tensors) else sum(t[axis] for t in tensors)
    shape = list(tensors[0])
    shape[axis] = total
    return [(types[1], tuple(shape))]


def _gemm(node, dims, types):  # A, a_scale, a_zp, B, b_scale, b_zp, C, y_scale, y_zp
    a, b = dims[0], dims[3]
    rows = a[1] if _attribute(node, "transA", 0) else a[0]
    columns = b[0] if _attribute(node, "transB", 0) else b[1]
    quantized_output = len(types) > 8 and types[8] != onnx.TensorProto.UNDEFINED
    return [(types[8] if quantized_output else onnx.TensorProto.FLOAT, (rows, columns))]


def _matmul(node, dims, types):  # FusedMatMul: A, B with transA/transB (on the last two axes)
    a, b = list(dims[0]), list(dims[1])
    if _attribute(node, "transA", 0):
        a[-2:] = a[-1], a[-2]
    if _attribute(node, "transB", 0):
        b[-2:] = b[-1], b[-2]
    batch = broadcast(tuple(a[:-2]), tuple(b[:-2]))
    return [(types[0], (*batch, a[-2], b[-1]))]


CUSTOM_RULES: dict[tuple[str, str], Rule] = {
    **{(_MS, op): _binary_quantized for op in ("QLinearAdd", "QLinearMul")},
    **{(_MS, op): _like_first for op in ("QLinearSigmoid", "QLinearLeakyRelu", "QLinearSoftmax", "Gelu", "FastGelu",
                                          "BiasGelu", "QuickGelu", "SkipLayerNormalization", "BiasAdd")},
    (_MS, "QLinearGlobalAveragePool"): _global_pool,
    (_MS, "QLinearAveragePool"): _average_pool,
    (_MS, "QLinearConcat"): _concat,
    (_MS, "QGemm"): _gemm,
    (_MS, "FusedMatMul"): _matmul,
}
