"""Build runnable ONNX models from records: one-node layer models, and weights for stripped graphs."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from graph.records import ConvLayer, DenseLayer, Layer, OtherLayer, PoolLayer

__all__ = ["LAYER_MODEL_OPSET", "layer_model", "random_inputs", "with_random_weights"]

LAYER_MODEL_OPSET = 17


def layer_model(layer: Layer, opset: int = LAYER_MODEL_OPSET, seed: int = 0) -> onnx.ModelProto:
    """A one-node model that runs exactly this layer's configuration with random weights."""
    rng = np.random.default_rng(seed)
    if isinstance(layer, ConvLayer):
        nodes, inputs, initializers = _conv(layer, rng)
    elif isinstance(layer, PoolLayer):
        nodes, inputs, initializers = _pool(layer, opset)
    elif isinstance(layer, DenseLayer):
        nodes, inputs, initializers = _dense(layer, rng)
    elif isinstance(layer, OtherLayer):
        nodes, inputs, initializers = _other(layer, rng)
    else:
        raise TypeError(f"not a layer record: {layer!r}")
    graph = helper.make_graph(nodes, f"layer_{layer.name}", inputs, [], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    known = {value.name: value for value in inferred.graph.value_info}
    for name in nodes[-1].output:
        if name:
            model.graph.output.append(known[name])
    return model


def random_inputs(model: onnx.ModelProto, seed: int = 0) -> dict[str, np.ndarray]:
    """Random feeds for every graph input of a model with concrete input shapes."""
    rng = np.random.default_rng(seed)
    initializer_names = {tensor.name for tensor in model.graph.initializer}
    feeds: dict[str, np.ndarray] = {}
    for value in model.graph.input:
        if value.name in initializer_names:
            continue
        tensor_type = value.type.tensor_type
        shape = tuple(int(d.dim_value) for d in tensor_type.shape.dim)
        feeds[value.name] = _random_array(shape, helper.tensor_dtype_to_np_dtype(tensor_type.elem_type), rng)
    return feeds


def with_random_weights(model: onnx.ModelProto, seed: int = 0) -> onnx.ModelProto:
    """A copy of a shape-only model whose payload-less initializers are filled with random data."""
    rng = np.random.default_rng(seed)
    filled = onnx.ModelProto()
    filled.CopyFrom(model)
    for tensor in filled.graph.initializer:
        count = int(np.prod(tensor.dims)) if len(tensor.dims) else 1
        if _has_data(tensor, count):
            continue
        array = _random_array(tuple(tensor.dims), helper.tensor_dtype_to_np_dtype(tensor.data_type), rng)
        replacement = numpy_helper.from_array(array, tensor.name)
        tensor.Clear()
        tensor.CopyFrom(replacement)
    return filled


def _has_data(tensor: onnx.TensorProto, count: int) -> bool:
    if tensor.data_location == onnx.TensorProto.EXTERNAL:
        return False
    if tensor.raw_data:
        return True
    stored = (len(tensor.float_data) + len(tensor.int32_data) + len(tensor.int64_data) + len(tensor.double_data)
              + len(tensor.uint64_data) + len(tensor.string_data))
    return (stored >= count and count > 0) or count == 0


def _random_array(shape: tuple[int, ...], dtype, rng: np.random.Generator) -> np.ndarray:
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        # Positive values keep variance-like inputs (BatchNormalization) valid.
        return rng.uniform(0.5, 1.5, size=shape).astype(dtype)
    if dtype.kind in "iu":
        return np.zeros(shape, dtype=dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, size=shape).astype(dtype)
    return np.zeros(shape, dtype=dtype)


def _elem(dtype: str) -> int:
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def _conv(layer: ConvLayer, rng):
    channels, height, width = layer.input_chw
    out_channels = layer.output_chw[0]
    elem = _elem(layer.dtype)
    weight_shape = (out_channels, channels // layer.groups, *layer.kernel)
    initializers = [numpy_helper.from_array(_random_array(weight_shape, layer.dtype, rng), "W")]
    names = ["X", "W"]
    if layer.has_bias:
        initializers.append(numpy_helper.from_array(_random_array((out_channels,), layer.dtype, rng), "B"))
        names.append("B")
    node = helper.make_node("Conv", names, ["Y"], kernel_shape=list(layer.kernel), strides=list(layer.stride),
                            dilations=list(layer.dilation), pads=list(layer.pads), group=layer.groups)
    inputs = [helper.make_tensor_value_info("X", elem, [layer.batch_size, channels, height, width])]
    return [node], inputs, initializers


def _pool(layer: PoolLayer, opset: int):
    channels, height, width = layer.input_chw
    inputs = [helper.make_tensor_value_info("X", _elem(layer.dtype), [layer.batch_size, channels, height, width])]
    if layer.op_type in ("ReduceMean", "ReduceMax"):
        if opset >= 18:
            axes = numpy_helper.from_array(np.array([2, 3], dtype=np.int64), "axes")
            return [helper.make_node(layer.op_type, ["X", "axes"], ["Y"], keepdims=1)], inputs, [axes]
        return [helper.make_node(layer.op_type, ["X"], ["Y"], axes=[2, 3], keepdims=1)], inputs, []
    if layer.is_global:
        op_type = "GlobalMaxPool" if layer.pool_kind == "max" else "GlobalAveragePool"
        return [helper.make_node(op_type, ["X"], ["Y"])], inputs, []
    attributes: dict[str, object] = {"kernel_shape": list(layer.kernel), "strides": list(layer.stride),
                                     "pads": list(layer.pads), "ceil_mode": int(layer.ceil_mode)}
    if layer.pool_kind == "max":
        op_type = "MaxPool"
        attributes["dilations"] = list(layer.dilation)
    else:
        op_type = "AveragePool"
        attributes["count_include_pad"] = int(layer.count_include_pad)
        if layer.dilation != (1, 1):
            attributes["dilations"] = list(layer.dilation)
    return [helper.make_node(op_type, ["X"], ["Y"], **attributes)], inputs, []


def _dense(layer: DenseLayer, rng):
    elem = _elem(layer.dtype)
    inputs = [helper.make_tensor_value_info("X", elem, list(layer.input_shape))]
    if layer.op_type == "Gemm":
        weight = numpy_helper.from_array(_random_array((layer.out_features, layer.in_features), layer.dtype, rng), "W")
        initializers = [weight]
        names = ["X", "W"]
        if layer.has_bias:
            initializers.append(numpy_helper.from_array(_random_array((layer.out_features,), layer.dtype, rng), "B"))
            names.append("B")
        return [helper.make_node("Gemm", names, ["Y"], transB=1)], inputs, initializers
    weight = numpy_helper.from_array(_random_array((layer.in_features, layer.out_features), layer.dtype, rng), "W")
    if not layer.has_bias:
        return [helper.make_node("MatMul", ["X", "W"], ["Y"])], inputs, [weight]
    bias = numpy_helper.from_array(_random_array((layer.out_features,), layer.dtype, rng), "B")
    nodes = [helper.make_node("MatMul", ["X", "W"], ["XW"]), helper.make_node("Add", ["XW", "B"], ["Y"])]
    return nodes, inputs, [weight, bias]


def _other(layer: OtherLayer, rng):
    constants = dict(layer.constant_inputs)
    inputs, initializers, names = [], [], []
    for position, (shape, dtype) in enumerate(zip(layer.input_shapes, layer.input_dtypes, strict=True)):
        name = f"I{position}"
        if shape is None:
            names.append("")
            continue
        names.append(name)
        if position in constants:
            array = np.array(constants[position], dtype=np.dtype(dtype)).reshape(shape)
            initializers.append(numpy_helper.from_array(array, name))
        elif position > 0 and _is_parameter(layer, position):
            initializers.append(numpy_helper.from_array(_random_array(shape, dtype, rng), name))
        else:
            inputs.append(helper.make_tensor_value_info(name, _elem(dtype), list(shape)))
    outputs = [f"O{position}" for position in range(len(layer.output_shapes))]
    node = helper.make_node(layer.op_type, names, outputs, **{key: _attribute(value) for key, value in layer.attributes})
    return [node], inputs, initializers


def _is_parameter(layer: OtherLayer, position: int) -> bool:
    """Normalisation parameters are weights of the model, not activations."""
    return layer.op_type in ("BatchNormalization", "LayerNormalization", "InstanceNormalization", "GroupNormalization")


def _attribute(value):
    return list(value) if isinstance(value, tuple) else value
