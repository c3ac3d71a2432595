"""Tiny models built in code for the estimator and CLI tests."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

FLOAT = onnx.TensorProto.FLOAT
# Zoo models whose measured rows (training_data/cpu-epyc-1thread) the tests train small profiles on.
SUBSET = ("lenet", "resnet18", "mobilenet_v3_small")


def small_cnn(channels: int = 8, batch: int | str = "N", with_transpose_conv: bool = False) -> onnx.ModelProto:
    """Conv -> Relu -> MaxPool -> GlobalAveragePool -> Flatten -> Gemm (+ an unmodeled ConvTranspose)."""
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
    if with_transpose_conv:
        weights["wt"] = rng.standard_normal((channels, channels, 2, 2)).astype(np.float32)
        nodes.append(helper.make_node("ConvTranspose", ["p1", "wt"], ["up"], strides=[2, 2], name="upsample"))
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


def huge_conv() -> onnx.ModelProto:
    """One conv far outside any training range (4096 -> 4096 channels at 1x1)."""
    weight = onnx.TensorProto(name="w", data_type=FLOAT, dims=[4096, 4096, 1, 1])
    node = helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[1, 1], name="wide")
    graph = helper.make_graph(node and [node], "huge", [helper.make_tensor_value_info("x", FLOAT, [1, 4096, 1, 1])],
                              [helper.make_tensor_value_info("y", FLOAT, None)], [weight])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
