"""What kind of loop ONNX Runtime's CPU provider runs each op as: the class an op's cost is estimated from until the
training data holds enough rows of the op itself.

An op measured too rarely for a work model of its own (estimator.train.fitting.MIN_GROUP_ROWS rows), or never, is
costed like the ops that run the same kind of loop: a ReduceL2 like the other reductions without a fast path, an Erf
like the other transcendental activations, rather than like the average of every `other` kernel (mostly reshapes and
cheap elementwise ops). Held out of the training data, ConvNeXtV2's generated networks (the architecture family with
ReduceL2 and an unfused Erf) came out at 10% within ±10% of their plain runs with ReduceL2 costed like every reduction
(6x fast: ReduceSum and ReduceMean have vectorised paths, ReduceL2 does not); see the README for the figure with the
generic reductions a class of their own and the primitives family (graph.generate.primitives) measuring them.
"""

from __future__ import annotations

__all__ = ["CLASS_OPS", "OP_CLASSES", "PARENT_CLASSES", "UNCLASSED", "ops_of_class"]

UNCLASSED = "unclassed"
CLASS_OPS: dict[str, tuple[str, ...]] = {
    # One compare, clamp or sign per element (MLAS's vectorised loops, no transcendental).
    "simple unary": ("Relu", "LeakyRelu", "PRelu", "Clip", "Abs", "Neg", "Floor", "Ceil", "Round", "Sign", "Not",
                     "HardSigmoid", "HardSwish", "ThresholdedRelu", "Shrink", "Cast", "IsNaN", "IsInf"),
    # A polynomial or table approximation of exp, log, erf, tanh or a root per element.
    "transcendental": ("Sigmoid", "Tanh", "Exp", "Log", "Erf", "Gelu", "FastGelu", "QuickGelu", "BiasGelu", "Softplus",
                       "Softsign", "Elu", "Selu", "Celu", "Mish", "Sqrt", "Reciprocal", "Pow", "Sin", "Cos", "Tan",
                       "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh"),
    # The broadcasting loop of two or more inputs, one call per contiguous run of the larger input.
    "binary elementwise": ("Add", "Sub", "Mul", "Div", "Mod", "Min", "Max", "Sum", "Mean", "Equal", "Less", "Greater",
                           "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Where", "BitShift", "BitwiseAnd",
                           "BitwiseOr", "BitwiseXor"),
    # Over some axes to fewer elements, through ONNX Runtime's vectorised fast paths (whole rows or columns at once).
    "reduction": ("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin"),
    # Over some axes to fewer elements, one accumulator per output through the generic index loop: the reductions
    # ONNX Runtime has no fast path for, several times slower per element (Zen 4, 1 thread, the primitives family:
    # ReduceL1, ReduceL2 and ReduceSumSquare 0.5-1.0 ns, ReduceLogSumExp 4-7, ReduceSum/Mean/Max/Min 0.1-0.25).
    "generic reduction": ("ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare",
                          "ArgMax", "ArgMin"),
    # Statistics over an axis, then a scale and shift of every element.
    "normalization": ("LayerNormalization", "SkipLayerNormalization", "SimplifiedLayerNormalization",
                      "SkipSimplifiedLayerNormalization", "RMSNormalization", "BatchNormalization",
                      "InstanceNormalization", "GroupNormalization", "LpNormalization", "MeanVarianceNormalization"),
    "softmax": ("Softmax", "LogSoftmax", "Hardmax"),
    # Elements copied to new places, none computed.
    "copy": ("Transpose", "Concat", "Split", "Slice", "Gather", "GatherElements", "GatherND", "ScatterND",
             "ScatterElements", "Expand", "Tile", "Pad", "DepthToSpace", "SpaceToDepth", "ReorderInput",
             "ReorderOutput", "Resize", "Upsample", "Trilu", "ReverseSequence"),
    # Shape-only: the runtime aliases the buffer.
    "view": ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Shape", "Size"),
    # Conversions to and from int8, and ONNX Runtime's int8 kernels (com.microsoft): integer code of their own.
    "int8": ("QuantizeLinear", "DequantizeLinear", "QLinearAdd", "QLinearMul", "QLinearSigmoid", "QLinearLeakyRelu",
             "QLinearConcat", "QLinearSoftmax", "QLinearWhere", "QLinearReduceMean"),
    # Products (their cost is their MACs'), kept apart from each other and from everything else.
    "matrix product": ("MatMul", "FusedMatMul", "MatMulInteger", "QLinearMatMul", "Einsum"),
    "recurrent": ("LSTM", "GRU", "RNN"),
}
OP_CLASSES: dict[str, str] = {op: name for name, ops in CLASS_OPS.items() for op in ops}  # op -> class; others UNCLASSED
# Classes split from another since profiles were first fitted by class: a profile fitted before the split has
# coefficients for the parent only, and its rows of the new class take those (stop 35: the generic reductions).
PARENT_CLASSES: dict[str, str] = {"generic reduction": "reduction"}


def ops_of_class(name: str) -> tuple[str, ...]:
    """The ops of class `name`."""
    return CLASS_OPS[name]
