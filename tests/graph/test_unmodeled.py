"""Unsupported variants are not errors: they become UnmodeledNode entries and are still counted."""

from __future__ import annotations

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


def test_4d_conv_is_unmodeled(make_model, weights):
    # 3-D convolutions are modeled since issue 11 (tests/graph/test_families.py); four spatial axes are not.
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="conv4d")
    result = extract_layers(make_model([node], {"x": (1, 2, 4, 4, 4, 4)}, {"w": weights((3, 2, 2, 2, 2, 2))}))
    unmodeled = _only_unmodeled(result, "Conv")
    assert unmodeled.name == "conv4d"
    assert "4-D" in unmodeled.reason


def test_lp_pool_is_unmodeled(make_model):
    # ConvTranspose and QLinearConv, unmodeled before issue 11, are records now (tests/graph/test_families.py).
    node = helper.make_node("LpPool", ["x"], ["y"], name="lp", kernel_shape=[3, 3])
    result = extract_layers(make_model([node], {"x": (1, 4, 5, 5)}))
    unmodeled = _only_unmodeled(result, "LpPool")
    assert unmodeled.name == "lp"
    assert "Lp pooling" in unmodeled.reason


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


def test_unmodeled_node_does_not_stop_the_rest(make_model):
    nodes = [
        helper.make_node("LpPool", ["x"], ["d"], name="lp", kernel_shape=[3, 3]),
        helper.make_node("Relu", ["d"], ["y"], name="relu"),
    ]
    result = extract_layers(make_model(nodes, {"x": (1, 4, 5, 5)}))
    assert [node.name for node in result.unmodeled] == ["lp"]
    (relu,) = result.layers
    assert relu.output_shapes == ((1, 4, 3, 3),)
    assert relu.index == 1
    assert result.node_count == 2
