"""Unsupported variants are not errors: they become UnmodeledNode entries and are still counted."""

from __future__ import annotations

import numpy as np
from onnx import helper

from graph import extract_layers


def _only_unmodeled(result, op_type):
    assert result.layers == ()
    (node,) = result.unmodeled
    assert node.op_type == op_type
    assert node.reason
    assert node.index == 0
    assert result.node_count == 1
    return node


def test_3d_conv_is_unmodeled(make_model, weights):
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="conv3d")
    result = extract_layers(make_model([node], {"x": (1, 2, 4, 4, 4)}, {"w": weights((3, 2, 2, 2, 2))}))
    unmodeled = _only_unmodeled(result, "Conv")
    assert unmodeled.name == "conv3d"
    assert "3-D" in unmodeled.reason


def test_conv_transpose_is_unmodeled(make_model, weights):
    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], name="deconv", strides=[2, 2])
    result = extract_layers(make_model([node], {"x": (1, 4, 5, 5)}, {"w": weights((4, 2, 3, 3))}))
    unmodeled = _only_unmodeled(result, "ConvTranspose")
    assert unmodeled.name == "deconv"
    assert "transposed" in unmodeled.reason


def test_qlinear_conv_is_unmodeled(make_model):
    node = helper.make_node(
        "QLinearConv", ["x", "x_scale", "x_zero", "w", "w_scale", "w_zero", "y_scale", "y_zero"], ["y"], name="qconv"
    )
    initializers = {
        "x_scale": np.array(0.1, dtype=np.float32),
        "x_zero": np.array(0, dtype=np.uint8),
        "w": np.ones((4, 3, 3, 3), dtype=np.uint8),
        "w_scale": np.array(0.1, dtype=np.float32),
        "w_zero": np.array(0, dtype=np.uint8),
        "y_scale": np.array(0.1, dtype=np.float32),
        "y_zero": np.array(0, dtype=np.uint8),
    }
    result = extract_layers(make_model([node], {"x": ((1, 3, 8, 8), "uint8")}, initializers))
    unmodeled = _only_unmodeled(result, "QLinearConv")
    assert "quantized" in unmodeled.reason


def test_custom_domain_op_is_unmodeled_and_counted(make_model):
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="relu"),
        helper.make_node("FancyOp", ["x"], ["f"], name="fancy", domain="com.example"),
        helper.make_node("Sigmoid", ["x"], ["s"], name="sigmoid"),
    ]
    model = make_model(nodes, {"x": (1, 3, 4, 4)}, extra_opsets={"com.example": 1})
    result = extract_layers(model)
    assert [layer.name for layer in result.layers] == ["relu", "sigmoid"]
    (unmodeled,) = result.unmodeled
    assert (unmodeled.name, unmodeled.op_type, unmodeled.index) == ("fancy", "FancyOp", 1)
    assert "com.example" in unmodeled.reason
    assert result.node_count == 3


def test_unmodeled_node_does_not_stop_the_rest(make_model, weights):
    nodes = [
        helper.make_node("ConvTranspose", ["x", "w"], ["d"], name="deconv"),
        helper.make_node("Relu", ["d"], ["y"], name="relu"),
    ]
    result = extract_layers(make_model(nodes, {"x": (1, 4, 5, 5)}, {"w": weights((4, 2, 3, 3))}))
    assert [node.name for node in result.unmodeled] == ["deconv"]
    (relu,) = result.layers
    assert relu.output_shapes == ((1, 2, 7, 7),)
    assert relu.index == 1
    assert result.node_count == 2
