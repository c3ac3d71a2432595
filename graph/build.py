"""Build ONNX models: one-node layer models, runnable models for backends, and small test graphs.

The small test graphs (small_model, one_node_model, linear_model, small_cnn) are public for users'
own tests through estimator.testing. Backends get a RunnableModel (serialized bytes and random feeds),
never a protobuf object.
"""

from __future__ import annotations

import functools
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import external_data_helper, helper, numpy_helper

from graph.loading import ModelSource, load_model
from graph.records import ConvLayer, DenseLayer, Layer, OtherLayer, PoolLayer

__all__ = [
    "LAYER_MODEL_OPSET",
    "RANDOM_WEIGHTS",
    "NodeSpec",
    "RunnableModel",
    "SmallModel",
    "conv_chain",
    "has_payload",
    "layer_model",
    "linear_model",
    "one_node_model",
    "overhead_model",
    "random_inputs",
    "runnable_layer",
    "runnable_model",
    "save_shape_only",
    "small_cnn",
    "small_model",
    "with_random_weights",
]

LAYER_MODEL_OPSET = 17
FLOAT = onnx.TensorProto.FLOAT
# How with_random_weights fills a shape-only model, as a collection's device.json records it per run (runs before
# 2026-12-05 record nothing: every float tensor was uniform in 0.5-1.5 then).
RANDOM_WEIGHTS = ("float tensors of 2+ dimensions uniform in +-sqrt(3/fan-in), fan-in = size / first dimension "
                  "(zero-mean, variance 1/fan-in); other floats uniform in 0.5-1.5; integers 0")
SMALL_TENSOR_BYTES = 1024  # save_shape_only keeps tensors up to this size inline (shape inference reads them)


@dataclass(frozen=True)
class RunnableModel:
    """A model ready for a runtime: its name, serialized bytes and random feeds for its inputs."""

    name: str
    data: bytes
    feeds: dict[str, np.ndarray]


def runnable_layer(layer: Layer, opset: int = LAYER_MODEL_OPSET) -> RunnableModel:
    """The one-node model of a layer record, with random weights and inputs."""
    model = layer_model(layer, opset)
    return RunnableModel(model.graph.name, model.SerializeToString(), random_inputs(model))


def runnable_model(source: ModelSource, input_shapes: Mapping[str, Sequence[int]]) -> RunnableModel:
    """A whole model with random weights where its payloads are missing, its inputs fixed to `input_shapes`."""
    full = with_random_weights(load_model(source).proto)
    for value in full.graph.input:
        if value.name in input_shapes:
            dims = value.type.tensor_type.shape
            dims.ClearField("dim")
            for dim in input_shapes[value.name]:
                dims.dim.add().dim_value = dim
    return RunnableModel(full.graph.name, full.SerializeToString(), random_inputs(full))


def overhead_model() -> RunnableModel:
    """A Relu on one element: what one `run` call costs with next to no work."""
    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph(
        [node], "overhead",
        [helper.make_tensor_value_info("x", FLOAT, [1])],
        [helper.make_tensor_value_info("y", FLOAT, [1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return RunnableModel("overhead", model.SerializeToString(), {"x": np.ones(1, dtype=np.float32)})


def layer_model(layer: Layer, opset: int = LAYER_MODEL_OPSET, seed: int = 0) -> onnx.ModelProto:
    """A one-node model that runs exactly this layer's configuration with random weights."""
    nodes, inputs, initializers = _layer_nodes(layer, np.random.default_rng(seed), opset)
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
    """A copy of a shape-only model whose payload-less tensors are filled with random data: initializers and the
    values of Constant nodes (the loader strips both; exporters leave index tables and masks as Constants).

    Float tensors of two or more dimensions (weights, embeddings) are drawn as a trained network's are scaled:
    zero-mean, variance 1 / fan-in (_random_weight), so activations and attention scores stay near 1 as in a real
    model. Some kernels' speed depends on the values: with all-positive weights a transformer's attention scores
    reach thousands, and ONNX Runtime's Softmax and Exp leave their vectorised path for them (an Intel Xeon ran
    ViT-B's Softmax 16x and Whisper's 10x slower than on scores of a trained scale; a Zen 4 EPYC at most 1.3x)."""
    rng = np.random.default_rng(seed)
    filled = onnx.ModelProto()
    filled.CopyFrom(model)
    for tensor in _stored_tensors(filled.graph):
        if has_payload(tensor):
            continue
        array = _random_weight(tuple(tensor.dims), helper.tensor_dtype_to_np_dtype(tensor.data_type), rng)
        replacement = numpy_helper.from_array(array, tensor.name)
        tensor.Clear()
        tensor.CopyFrom(replacement)
    return filled


def _stored_tensors(graph: onnx.GraphProto):
    """The initializers and Constant-node values of a graph and of its subgraphs (If, Loop, Scan)."""
    yield from graph.initializer
    for node in graph.node:
        for attribute in node.attribute:
            if node.op_type == "Constant" and attribute.name == "value" and attribute.HasField("t"):
                yield attribute.t
            if attribute.HasField("g"):
                yield from _stored_tensors(attribute.g)
            for subgraph in attribute.graphs:
                yield from _stored_tensors(subgraph)


def has_payload(tensor: onnx.TensorProto) -> bool:
    """Whether a tensor carries its values (not stripped to name, type and dims, not external)."""
    count = math.prod(tensor.dims)
    if tensor.data_location == onnx.TensorProto.EXTERNAL:
        return False
    if tensor.raw_data:
        return True
    stored = (len(tensor.float_data) + len(tensor.int32_data) + len(tensor.int64_data) + len(tensor.double_data)
              + len(tensor.uint64_data) + len(tensor.string_data))
    return (stored >= count and count > 0) or count == 0


def _random_weight(shape: tuple[int, ...], dtype, rng: np.random.Generator) -> np.ndarray:
    """A stored tensor's random values: a float tensor of two or more dimensions uniform in +-sqrt(3 / fan-in)
    (fan-in: its size over its first dimension, as for PyTorch's Conv and Linear weights), so zero-mean of variance
    1 / fan-in; anything else as _random_array makes it (positive floats keep BatchNormalization's variance valid)."""
    dtype = np.dtype(dtype)
    if dtype.kind != "f" or len(shape) < 2 or math.prod(shape) == 0:
        return _random_array(shape, dtype, rng)
    bound = math.sqrt(3.0 * shape[0] / math.prod(shape))
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


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


@functools.singledispatch
def _layer_nodes(layer: Layer, rng: np.random.Generator, opset: int):
    """The nodes, graph inputs and initializers that run one layer: one registration per layer type."""
    raise TypeError(f"not a layer record: {layer!r}")


@_layer_nodes.register(ConvLayer)
def _conv(layer: ConvLayer, rng: np.random.Generator, opset: int):
    channels = layer.input_chw[0]
    out_channels = layer.output_chw[0]
    spatial, kernel, stride, dilation, pads = _spatial(layer)
    if layer.transposed:
        weight_shape = (channels, out_channels // layer.groups, *kernel)
    else:
        weight_shape = (out_channels, channels // layer.groups, *kernel)
    attributes = {"kernel_shape": list(kernel), "strides": list(stride), "dilations": list(dilation), "pads": list(pads),
                  "group": layer.groups}
    if layer.dtype_bytes == 1 and not layer.transposed:  # int8: QLinearConv, uint8 activations and int8 weights
        return _qlinear_conv(layer, spatial, weight_shape, attributes, rng)
    elem = _elem(layer.dtype)
    initializers = [numpy_helper.from_array(_random_array(weight_shape, layer.dtype, rng), "W")]
    names = ["X", "W"]
    if layer.has_bias:
        initializers.append(numpy_helper.from_array(_random_array((out_channels,), layer.dtype, rng), "B"))
        names.append("B")
    if layer.transposed:
        attributes["output_padding"] = [*([0] if layer.spatial_rank == 3 else []), *layer.output_padding]
    node = helper.make_node("ConvTranspose" if layer.transposed else "Conv", names, ["Y"], **attributes)
    inputs = [helper.make_tensor_value_info("X", elem, [layer.batch_size, channels, *spatial])]
    return [node], inputs, initializers


def _spatial(layer: ConvLayer | PoolLayer):
    """Input dims, kernel, strides, dilations and ONNX pads over the layer's spatial axes (depth first when 3-D)."""
    _, height, width = layer.input_chw
    begins, ends = [layer.pads[0], layer.pads[1]], [layer.pads[2], layer.pads[3]]
    if layer.spatial_rank != 3:
        return (height, width), layer.kernel, layer.stride, layer.dilation, (*begins, *ends)
    depth = layer.depth
    return ((depth.input, height, width), (depth.kernel, *layer.kernel), (depth.stride, *layer.stride),
            (depth.dilation, *layer.dilation), (depth.pads[0], *begins, depth.pads[1], *ends))


def _qlinear_conv(layer: ConvLayer, spatial, weight_shape, attributes, rng):
    out_channels = layer.output_chw[0]
    scale = numpy_helper.from_array(np.array(0.05, dtype=np.float32), "scale")
    zero = numpy_helper.from_array(np.array(0, dtype=np.uint8), "zero")
    weight_zero = numpy_helper.from_array(np.array(0, dtype=np.int8), "weight_zero")
    weight = numpy_helper.from_array(rng.integers(-64, 64, weight_shape).astype(np.int8), "W")
    initializers = [scale, zero, weight_zero, weight]
    names = ["X", "scale", "zero", "W", "scale", "weight_zero", "scale", "zero"]
    if layer.has_bias:
        initializers.append(numpy_helper.from_array(np.zeros(out_channels, dtype=np.int32), "B"))
        names.append("B")
    node = helper.make_node("QLinearConv", names, ["Y"], **attributes)
    inputs = [helper.make_tensor_value_info("X", onnx.TensorProto.UINT8, [layer.batch_size, layer.input_chw[0], *spatial])]
    return [node], inputs, initializers


@_layer_nodes.register(PoolLayer)
def _pool(layer: PoolLayer, rng: np.random.Generator, opset: int):
    channels = layer.input_chw[0]
    spatial, kernel, stride, dilation, pads = _spatial(layer)
    inputs = [helper.make_tensor_value_info("X", _elem(layer.dtype), [layer.batch_size, channels, *spatial])]
    if layer.op_type in ("ReduceMean", "ReduceMax"):
        if opset >= 18:
            axes = numpy_helper.from_array(np.array([2, 3], dtype=np.int64), "axes")
            return [helper.make_node(layer.op_type, ["X", "axes"], ["Y"], keepdims=1)], inputs, [axes]
        return [helper.make_node(layer.op_type, ["X"], ["Y"], axes=[2, 3], keepdims=1)], inputs, []
    if layer.is_global:
        op_type = "GlobalMaxPool" if layer.pool_kind == "max" else "GlobalAveragePool"
        return [helper.make_node(op_type, ["X"], ["Y"])], inputs, []
    attributes: dict[str, object] = {"kernel_shape": list(kernel), "strides": list(stride),
                                     "pads": list(pads), "ceil_mode": int(layer.ceil_mode)}
    if layer.pool_kind == "max":
        op_type = "MaxPool"
        attributes["dilations"] = list(dilation)
    else:
        op_type = "AveragePool"
        attributes["count_include_pad"] = int(layer.count_include_pad)
        if any(d != 1 for d in dilation):
            attributes["dilations"] = list(dilation)
    return [helper.make_node(op_type, ["X"], ["Y"], **attributes)], inputs, []


@_layer_nodes.register(DenseLayer)
def _dense(layer: DenseLayer, rng: np.random.Generator, opset: int):
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


@_layer_nodes.register(OtherLayer)
def _other(layer: OtherLayer, rng: np.random.Generator, opset: int):
    constants = dict(layer.constant_inputs)
    inputs, initializers, names = [], [], []
    for position, (shape, dtype) in enumerate(zip(layer.input_shapes, layer.input_dtypes, strict=True)):
        name = f"I{position}"
        if shape is None:
            names.append("")
            continue
        names.append(name)
        if position in constants:
            array = _typed_array(constants[position], np.dtype(dtype)).reshape(shape)
            initializers.append(numpy_helper.from_array(array, name))
        elif position > 0 and _is_parameter(layer, position):
            initializers.append(numpy_helper.from_array(_random_array(shape, dtype, rng), name))
        else:
            inputs.append(helper.make_tensor_value_info(name, _elem(dtype), list(shape)))
    outputs = [f"O{position}" for position in range(len(layer.output_shapes))]
    node = helper.make_node(layer.op_type, names, outputs, **{key: _attribute(value) for key, value in layer.attributes})
    return [node], inputs, initializers


def _typed_array(values, dtype: np.dtype) -> np.ndarray:
    """Recorded constant values (kept as floats) back in their type; INT64_MAX-like bounds (Slice ends) clip."""
    if dtype.kind in "iu":
        limits = np.iinfo(dtype)
        return np.array([min(max(int(v), limits.min), limits.max) for v in values], dtype=dtype)
    return np.array(values, dtype=dtype)


def _is_parameter(layer: OtherLayer, position: int) -> bool:
    """Normalisation parameters are weights of the model, not activations."""
    return layer.op_type in ("BatchNormalization", "LayerNormalization", "InstanceNormalization", "GroupNormalization")


def _attribute(value):
    return list(value) if isinstance(value, tuple) else value


# ----------------------------------------------------------------------------- small graphs


SmallModel = onnx.ModelProto  # what small_model returns: pass it to extract_layers


@dataclass(frozen=True)
class NodeSpec:
    """One node of a small graph, in plain values."""

    op_type: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attributes: Mapping[str, object] = field(default_factory=dict)
    name: str = ""


def small_model(nodes: Sequence[NodeSpec], inputs: Mapping[str, Sequence[int | str]],
                weights: Mapping[str, Sequence[int]] | None = None, scalars: Mapping[str, float] | None = None,
                opset: int = 17, name: str = "sweep") -> onnx.ModelProto:
    """A float32 graph: `inputs` by shape, `weights` as payload-less initializers, `scalars` as one-value ones.

    A str in an input's shape is a symbolic dim. Its output is the last node's first output, with no declared shape.
    """
    protos = [helper.make_node(n.op_type, list(n.inputs), list(n.outputs), name=n.name or None, **dict(n.attributes))
              for n in nodes]
    initializers = []
    for weight_name, dims in (weights or {}).items():
        tensor = onnx.TensorProto(name=weight_name, data_type=FLOAT)
        tensor.dims.extend(dims)
        initializers.append(tensor)
    initializers += [helper.make_tensor(scalar, FLOAT, [], [value]) for scalar, value in (scalars or {}).items()]
    graph = helper.make_graph(protos, name, [helper.make_tensor_value_info(k, FLOAT, list(v)) for k, v in inputs.items()],
                              [helper.make_tensor_value_info(protos[-1].output[0], FLOAT, None)], initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def conv_chain(length: int) -> onnx.ModelProto:
    """`length` 3x3 convs of 16 channels on 1x16x32x32, weights shape-only (a benchmark graph)."""
    nodes = [NodeSpec("Conv", ("x" if index == 0 else f"y{index - 1}", f"w{index}"), (f"y{index}",),
                      {"pads": [1, 1, 1, 1], "kernel_shape": [3, 3]}, name=f"conv{index}") for index in range(length)]
    return small_model(nodes, {"x": (1, 16, 32, 32)}, {f"w{index}": (16, 16, 3, 3) for index in range(length)},
                       name="chain")


def one_node_model(op_type: str, inputs: Mapping[str, Sequence[int | str]],
                   weights: Mapping[str, Sequence[int]] | None = None, attributes: Mapping[str, object] | None = None,
                   opset: int = 17, name: str | None = None) -> onnx.ModelProto:
    """A float32 model of one node: its data `inputs` by shape, then its `weights` (shape-only initializers).

    The node's operands are the inputs then the weights, in the order given; its one output is `y`.
    E.g. one_node_model("Conv", {"x": (1, 3, 32, 32)}, {"w": (8, 3, 3, 3)}, {"kernel_shape": [3, 3]}).
    """
    node = NodeSpec(op_type, (*inputs, *(weights or {})), ("y",), dict(attributes or {}), name=name or op_type.lower())
    return small_model([node], inputs, weights, opset=opset, name=name or op_type.lower())


def linear_model(in_features: int = 64, out_features: int = 10, batch_size: int | str = 1) -> onnx.ModelProto:
    """One Linear layer (Gemm, weight transposed, with bias) on batch_size x in_features; weights shape-only."""
    return one_node_model("Gemm", {"x": (batch_size, in_features)}, {"w": (out_features, in_features), "b": (out_features,)},
                          {"transB": 1}, name="linear")


def small_cnn(channels: int = 8, batch: int | str = "N", with_unmodeled: bool = False) -> onnx.ModelProto:
    """Conv -> Relu -> MaxPool -> GlobalAveragePool -> Flatten -> Gemm on batch x 3 x 32 x 32, random weights.

    `batch` "N" is symbolic (estimate assumes 1 unless told). `with_unmodeled` adds an LpPool, an op no
    profile models (the totals are then a lower bound), and a second MaxPool.
    """
    rng = np.random.default_rng(0)
    weights = {
        "w1": rng.standard_normal((channels, 3, 3, 3)).astype(np.float32),
        "b1": np.zeros(channels, np.float32),
        "fc_w": rng.standard_normal((10, channels)).astype(np.float32),
        "fc_b": np.zeros(10, np.float32),
    }
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], name="conv1"),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2], name="pool1"),
    ]
    last = "p1"
    if with_unmodeled:
        nodes.append(helper.make_node("LpPool", ["p1"], ["up"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], name="lp_pool"))
        nodes.append(helper.make_node("MaxPool", ["up"], ["p2"], kernel_shape=[2, 2], strides=[2, 2], name="pool2"))
        last = "p2"
    nodes += [
        helper.make_node("GlobalAveragePool", [last], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["y"], transB=1, name="fc"),
    ]
    graph = helper.make_graph(
        nodes, "small_cnn", [helper.make_tensor_value_info("x", FLOAT, [batch, 3, 32, 32])],
        [helper.make_tensor_value_info("y", FLOAT, None)],
        [numpy_helper.from_array(v, k) for k, v in weights.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def save_model(model: onnx.ModelProto, path: str | os.PathLike) -> None:
    """Write a model to one file (its weights inline)."""
    onnx.save(model, str(path))


def save_shape_only(source: str | os.PathLike, path: Path, producer_note: str = "") -> None:
    """Save the model at `source` keeping every tensor's dims and type but none of its large payloads.

    Large tensors (initializers and Constant nodes' values) are written as external data to a file that is then
    removed; small tensors (shapes, axes) stay inline because shape inference reads them. Nodes' metadata (the
    dynamo exporter's stack traces and module paths, most of such a file) goes too; nothing reads it.
    """
    proto = onnx.load(str(source))
    for node in proto.graph.node:
        del node.metadata_props[:]
    if producer_note:
        proto.producer_name = f"{proto.producer_name} ({producer_note})"
    path.parent.mkdir(parents=True, exist_ok=True)
    data_name = f"{path.name}.data"
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        # convert_attribute: Constant nodes' large values (index tables, masks) go too, like initializers.
        external_data_helper.convert_model_to_external_data(proto, all_tensors_to_one_file=True, location=data_name,
                                                           size_threshold=SMALL_TENSOR_BYTES, convert_attribute=True)
        onnx.save_model(proto, temporary)
        os.replace(temporary, path)
    finally:
        (path.parent / data_name).unlink(missing_ok=True)
        Path(temporary).unlink(missing_ok=True)
