"""Tiny models that show which fusions and layouts a runtime applies (see estimator.measure.fusion_probes).

Each function returns a runnable model's bytes (small random weights): the probe runs it through
the runtime's optimizer and reads back which kernels came out.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = ["ACTIVATION_CANDIDATES", "PATTERNS", "activation_after", "conv", "gemm_then", "pattern", "pool"]

ACTIVATION_CANDIDATES = ("Relu", "Sigmoid", "Tanh", "LeakyRelu", "Clip", "HardSigmoid", "HardSwish", "Elu",
                         "Softplus", "Selu", "SiLU", "Gelu")
PATTERNS = ("gelu", "quick_gelu", "fast_gelu", "rms_norm", "skip_layernorm", "matmul_add", "conv_add_relu", "slices",
            "batchnorm_after_conv", "conv3d_add_relu", "qdq_conv", "resize_blocked", "transpose_gathers", "gathers",
            "matmul_transpose", "matmul_scale", "reshapes", "twins", "noops")


class _Graph:
    def __init__(self) -> None:
        self.rng = np.random.default_rng(0)
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def weight(self, *shape: int) -> str:
        name = f"w{len(self.initializers)}"
        self.initializers.append(numpy_helper.from_array(self.rng.standard_normal(shape).astype(np.float32), name))
        return name

    def scalar(self, value: float) -> str:
        name = f"s{len(self.initializers)}"
        self.initializers.append(numpy_helper.from_array(np.array(value, dtype=np.float32), name))
        return name

    def typed(self, array: np.ndarray) -> str:
        """A constant of the array's own element type."""
        name = f"c{len(self.initializers)}"
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def ints(self, values: list[int]) -> str:
        name = f"i{len(self.initializers)}"
        self.initializers.append(numpy_helper.from_array(np.array(values, dtype=np.int64), name))
        return name

    def add(self, op_type: str, inputs: list[str], **attributes) -> str:
        output = f"t{len(self.nodes)}"
        self.nodes.append(helper.make_node(op_type, inputs, [output], **attributes))
        return output

    def conv(self, x: str, in_channels: int, out_channels: int, kernel: int = 3, groups: int = 1) -> str:
        return self.add("Conv", [x, self.weight(out_channels, in_channels // groups, kernel, kernel),
                                 self.weight(out_channels)],
                        kernel_shape=[kernel, kernel], pads=[kernel // 2] * 4, group=groups)

    def activation(self, x: str, op_type: str) -> str:
        if op_type == "Clip":
            return self.add("Clip", [x, self.scalar(0.0), self.scalar(6.0)])
        if op_type == "LeakyRelu":
            return self.add("LeakyRelu", [x], alpha=0.1)
        if op_type == "SiLU":  # as exporters write it
            return self.add("Mul", [x, self.add("Sigmoid", [x])])
        if op_type == "Gelu":  # as opset-17 exporters write it: x * 0.5 * (1 + erf(x / sqrt(2)))
            gate = self.add("Add", [self.add("Erf", [self.add("Div", [x, self.scalar(2 ** 0.5)])]), self.scalar(1.0)])
            return self.add("Mul", [self.add("Mul", [x, gate]), self.scalar(0.5)])
        return self.add(op_type, [x])

    def model(self, input_shape: list[int], outputs: list[str]) -> bytes:
        graph = helper.make_graph(
            self.nodes, "probe", [helper.make_tensor_value_info("x", TensorProto.FLOAT, input_shape)],
            [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in outputs], self.initializers)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def conv(in_channels: int, out_channels: int, groups: int = 1, kernel: int = 1) -> bytes:
    """One Conv reading the graph input (NCHW, 16x16)."""
    g = _Graph()
    return g.model([1, in_channels, 16, 16], [g.conv("x", in_channels, out_channels, kernel, groups)])


def pool(channels: int, op_type: str = "MaxPool") -> bytes:
    g = _Graph()
    return g.model([1, channels, 16, 16], [g.add(op_type, ["x"], kernel_shape=[2, 2], strides=[2, 2])])


def activation_after(op_type: str, channels: int = 16, groups: int = 1, shared: bool = False) -> bytes:
    """Conv -> activation -> Conv; with `shared`, the first Conv's output also feeds a third Conv whose
    output is added to the second's (so nothing fuses, and the one graph output needs one reorder
    unless the activation itself forces the tensor back to NCHW)."""
    g = _Graph()
    first = g.conv("x", channels, channels, groups=groups)
    middle = g.activation(first, op_type)
    out = g.conv(middle, channels, channels)
    if shared:
        out = g.add("Add", [out, g.conv(first, channels, channels)])
    return g.model([1, channels, 16, 16], [out])


def gemm_then(op_type: str) -> bytes:
    """Gemm -> activation -> Gemm on a (4, 32) input."""
    g = _Graph()
    hidden = g.add("Gemm", ["x", g.weight(32, 32), g.weight(32)], transB=1)
    out = g.add("Gemm", [g.activation(hidden, op_type), g.weight(32, 32), g.weight(32)], transB=1)
    return g.model([4, 32], [out])


def pattern(kind: str) -> bytes:
    """A small instance of a multi-node pattern a runtime may fuse."""
    g = _Graph()
    if kind == "gelu":
        x = g.add("Div", ["x", g.scalar(2 ** 0.5)])
        gate = g.add("Add", [g.add("Erf", [x]), g.scalar(1.0)])
        return g.model([4, 32], [g.add("Mul", [g.add("Mul", ["x", gate]), g.scalar(0.5)])])
    if kind == "quick_gelu":
        return g.model([4, 32], [g.add("Mul", ["x", g.add("Sigmoid", ["x"])])])
    if kind == "fast_gelu":  # GPT-2's gelu_new, as exported
        cubed = g.add("Mul", [g.add("Pow", ["x", g.scalar(3.0)]), g.scalar(0.044715)])
        inner = g.add("Mul", [g.add("Add", ["x", cubed]), g.scalar((2 / np.pi) ** 0.5)])
        gate = g.add("Add", [g.add("Tanh", [inner]), g.scalar(1.0)])
        return g.model([4, 32], [g.add("Relu", [g.add("Mul", [g.add("Mul", ["x", g.scalar(0.5)]), gate])])])
    if kind == "rms_norm":  # LLaMA's and T5's RMSNorm, as exported
        mean_square = g.add("ReduceMean", [g.add("Pow", ["x", g.scalar(2.0)])], axes=[-1], keepdims=1)
        root = g.add("Sqrt", [g.add("Add", [mean_square, g.scalar(1e-6)])])
        normed = g.add("Mul", ["x", g.add("Div", [g.scalar(1.0), root])])
        return g.model([1, 8, 32], [g.add("Mul", [g.weight(32), normed])])
    if kind == "skip_layernorm":
        hidden = g.add("Relu", ["x"])
        summed = g.add("Add", ["x", hidden])
        return g.model([1, 8, 32], [g.add("LayerNormalization", [summed, g.weight(32), g.weight(32)], axis=-1)])
    if kind == "matmul_add":
        return g.model([1, 8, 32], [g.add("Add", [g.add("MatMul", ["x", g.weight(32, 16)]), g.weight(16)])])
    if kind == "conv_add_relu":  # grouped 16 -> 16 in 8 groups: no blocked layout for it
        conv_out = g.conv("x", 16, 16, groups=8)
        return g.model([1, 16, 16, 16], [g.add("Relu", [g.add("Add", [conv_out, "x"])])])
    if kind == "slices":
        halves = [g.add("Slice", ["x", g.ints([start]), g.ints([end]), g.ints([1])]) for start, end in ((0, 8), (8, 16))]
        return g.model([1, 16, 4, 4], [g.add("Relu", [halves[0]]), g.add("Relu", [halves[1]])])
    if kind == "batchnorm_after_conv":
        conv_out = g.conv("x", 3, 4)
        stats = [g.weight(4) for _ in range(4)]
        return g.model([1, 3, 8, 8], [g.add("BatchNormalization", [conv_out, *stats])])
    return _transformer_or_int8_pattern(g, kind)


def _transformer_or_int8_pattern(g: _Graph, kind: str) -> bytes:
    if kind == "conv3d_add_relu":  # grouped, so no layout pass could take it either
        conv_out = g.add("Conv", ["x", g.weight(8, 2, 1, 1, 1)], group=4)
        return g.model([1, 8, 4, 4, 4], [g.add("Relu", [g.add("Add", [conv_out, "x"])])])
    if kind == "qdq_conv":  # x -> Q -> DQ, int8 weight -> DQ, Conv -> Q -> DQ
        scale, zero, weight_zero = g.scalar(0.05), g.typed(np.uint8(128)), g.typed(np.int8(0))
        x = g.add("DequantizeLinear", [g.add("QuantizeLinear", ["x", scale, zero]), scale, zero])
        w = g.add("DequantizeLinear", [g.typed(g.rng.integers(-8, 8, (16, 16, 3, 3)).astype(np.int8)), scale,
                                       weight_zero])
        y = g.add("Conv", [x, w], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
        return g.model([1, 16, 8, 8], [g.add("DequantizeLinear", [g.add("QuantizeLinear", [y, scale, zero]), scale, zero])])
    if kind == "resize_blocked":
        up = g.add("Resize", [g.conv("x", 16, 16), "", g.typed(np.array([1, 1, 2, 2], np.float32))], mode="nearest",
                   coordinate_transformation_mode="asymmetric", nearest_mode="floor")
        return g.model([1, 16, 8, 8], [g.conv(up, 16, 16)])
    if kind == "transpose_gathers":  # (2, 3, 4, 8) -> (4, 2, 3, 8), gathered along axis 1
        source = g.add("Transpose", ["x"], perm=[2, 0, 1, 3])
        parts = [g.add("Gather", [source, g.typed(np.int64(i))], axis=1) for i in range(2)]
        return g.model([2, 3, 4, 8], [g.add("Relu", [part]) for part in parts])
    if kind == "gathers":
        parts = [g.add("Gather", ["x", g.typed(np.int64(i))], axis=0) for i in range(4)]
        return g.model([4, 4, 8], [g.add("Relu", [part]) for part in parts])
    if kind == "matmul_transpose":
        keys = g.add("Transpose", [g.add("Sigmoid", ["x"])], perm=[0, 2, 1])
        return g.model([2, 8, 8], [g.add("MatMul", [g.add("Relu", ["x"]), keys])])
    if kind == "matmul_scale":
        return g.model([2, 8, 8], [g.add("Mul", [g.add("MatMul", [g.add("Relu", ["x"]), g.add("Sigmoid", ["x"])]),
                                                 g.scalar(0.125)])])
    if kind == "noops":
        one = g.add("Mul", [g.add("Relu", ["x"]), g.scalar(1.0)])
        return g.model([2, 8], [g.add("Sigmoid", [g.add("Cast", [one], to=TensorProto.FLOAT)])])
    if kind == "twins":
        return g.model([2, 8], [g.add("Add", [g.add("Sigmoid", ["x"]), g.add("Sigmoid", ["x"])])])
    if kind == "reshapes":
        flat = g.add("Reshape", [g.add("Reshape", [g.add("Relu", ["x"]), g.ints([4, 16])]), g.ints([64])])
        return g.model([2, 8, 4], [g.add("Sigmoid", [flat])])
    raise ValueError(f"unknown pattern {kind!r}; patterns: {', '.join(PATTERNS)}")
