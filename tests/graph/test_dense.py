"""Gemm, and MatMul by a 2-D constant weight (+ a constant bias Add) -> DenseLayer."""

from __future__ import annotations

import pytest
from onnx import helper

from graph import DenseLayer, OtherLayer, extract_layers, layers_to_frame


def _gemm(make_model, weights, a_shape, b_shape, with_c=False, **attributes):
    names = ["a", "b"]
    initializers = {"b": weights(b_shape)}
    if with_c:
        names.append("c")
        initializers["c"] = weights((b_shape[0] if attributes.get("transB") else b_shape[1],))
    node = helper.make_node("Gemm", names, ["y"], name="fc", **attributes)
    (layer,) = extract_layers(make_model([node], {"a": a_shape}, initializers)).layers
    assert isinstance(layer, DenseLayer)
    return layer


def test_gemm_without_c(make_model, weights):
    layer = _gemm(make_model, weights, (2, 6), (6, 4))
    assert layer.layer_type == "dense"
    assert layer.op_type == "Gemm"
    assert layer.name == "fc"
    assert layer.batch_size == 2
    assert layer.rows == 2
    assert layer.in_features == 6
    assert layer.out_features == 4
    assert layer.has_bias is False
    assert layer.input_size == 12
    assert layer.output_size == 8
    assert layer.params == 24
    assert layer.macs == 48


def test_gemm_trans_b_with_c(make_model, weights):
    # the Linear layer as exporters write it: y = x @ W^T + b with W (out, in)
    layer = _gemm(make_model, weights, (2, 6), (4, 6), with_c=True, transB=1)
    assert (layer.rows, layer.in_features, layer.out_features) == (2, 6, 4)
    assert layer.has_bias is True
    assert layer.params == 28  # 6 * 4 + 4


def test_gemm_trans_a(make_model, weights):
    # A is (K, M) = (6, 2): M = 2 rows of K = 6 features
    layer = _gemm(make_model, weights, (6, 2), (6, 4), transA=1)
    assert (layer.rows, layer.in_features, layer.out_features) == (2, 6, 4)
    assert layer.input_size == 12
    assert layer.output_size == 8


def test_gemm_trans_a_batch_size_is_the_row_count(make_model, weights):
    layer = _gemm(make_model, weights, (6, 2), (6, 4), transA=1)
    assert layer.batch_size == 2


def test_gemm_trans_a_and_trans_b(make_model, weights):
    layer = _gemm(make_model, weights, (6, 3), (5, 6), transA=1, transB=1)
    assert (layer.rows, layer.in_features, layer.out_features) == (3, 6, 5)


def test_gemm_alpha_beta_do_not_change_the_features(make_model, weights):
    plain = _gemm(make_model, weights, (2, 6), (4, 6), with_c=True, transB=1)
    scaled = _gemm(make_model, weights, (2, 6), (4, 6), with_c=True, transB=1, alpha=0.5, beta=2.0)
    assert scaled == plain


def test_gemm_batch_follows_batch_size(make_model, weights):
    node = helper.make_node("Gemm", ["a", "w", "c"], ["y"], name="fc", transB=1)
    model = make_model([node], {"a": ("N", 512)}, {"w": weights((10, 512)), "c": weights((10,))})
    (layer,) = extract_layers(model, batch_size=4).layers
    assert layer.batch_size == 4
    assert layer.input_size == 2048
    assert layer.output_size == 40


def _matmul(make_model, weights, input_shape, weight_shape, batch_size=None):
    node = helper.make_node("MatMul", ["x", "w"], ["y"], name="linear")
    (layer,) = extract_layers(make_model([node], {"x": input_shape}, {"w": weights(weight_shape)}),
                              batch_size=batch_size).layers
    return layer


def test_matmul_rank_2(make_model, weights):
    layer = _matmul(make_model, weights, (3, 8), (8, 5))
    assert isinstance(layer, DenseLayer)
    assert layer.op_type == "MatMul"
    assert layer.input_shape == (3, 8)
    assert (layer.rows, layer.in_features, layer.out_features) == (3, 8, 5)
    assert layer.batch_size == 3
    assert layer.input_size == 24
    assert layer.output_size == 15
    assert layer.has_bias is False


def test_matmul_rank_3(make_model, weights):
    layer = _matmul(make_model, weights, (2, 7, 8), (8, 5))
    assert isinstance(layer, DenseLayer)
    assert layer.input_shape == (2, 7, 8)
    assert layer.batch_size == 2
    assert layer.rows == 14
    assert layer.input_size == 112  # 2 * 7 * 8
    assert layer.output_size == 70  # 2 * 7 * 5
    assert layer.macs == 560  # 14 * 8 * 5


def test_matmul_rank_4_channels_last(make_model, weights):
    # ConvNeXt's pointwise Linear on N, H, W, C
    layer = _matmul(make_model, weights, (2, 3, 4, 8), (8, 16))
    assert isinstance(layer, DenseLayer)
    assert layer.batch_size == 2
    assert layer.rows == 24
    assert layer.input_size == 192  # 2 * 3 * 4 * 8
    assert layer.output_size == 384  # 2 * 3 * 4 * 16
    assert layer.params == 128


def test_matmul_rank_4_with_symbolic_batch(make_model, weights):
    layer = _matmul(make_model, weights, ("N", 3, 4, 8), (8, 16), batch_size=3)
    assert layer.batch_size == 3
    assert layer.rows == 36
    assert layer.input_size == 288
    assert layer.output_size == 576


@pytest.mark.parametrize("bias_first", [False, True])
def test_matmul_plus_constant_bias_is_absorbed(make_model, weights, bias_first):
    add_inputs = ["b", "xw"] if bias_first else ["xw", "b"]
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["xw"], name="linear"),
        helper.make_node("Add", add_inputs, ["y"], name="bias_add"),
        helper.make_node("Relu", ["y"], ["z"], name="relu"),
    ]
    model = make_model(nodes, {"x": (2, 7, 8)}, {"w": weights((8, 5)), "b": weights((5,))})
    result = extract_layers(model)
    assert [layer.name for layer in result.layers] == ["linear", "relu"]
    assert [layer.index for layer in result.layers] == [0, 2]
    dense = result.layers[0]
    assert dense.has_bias is True
    assert dense.params == 45  # 8 * 5 + 5
    assert result.of_type("other")[0].op_type == "Relu"
    assert result.node_count == 3
    assert result.unmodeled == ()


def test_matmul_plus_activation_add_is_not_absorbed(make_model, weights):
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["xw"], name="linear"),
        helper.make_node("Add", ["xw", "r"], ["y"], name="residual"),
    ]
    model = make_model(nodes, {"x": (2, 5), "r": (2, 5)}, {"w": weights((5, 5))})
    result = extract_layers(model)
    assert [(layer.name, layer.layer_type) for layer in result.layers] == [("linear", "dense"), ("residual", "other")]
    assert result.layers[0].has_bias is False


def test_matmul_output_used_twice_keeps_its_add(make_model, weights):
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["xw"], name="linear"),
        helper.make_node("Add", ["xw", "b"], ["y"], name="bias_add"),
        helper.make_node("Mul", ["xw", "y"], ["z"], name="mul"),
    ]
    model = make_model(nodes, {"x": (2, 5)}, {"w": weights((5, 3)), "b": weights((3,))})
    result = extract_layers(model)
    assert [layer.name for layer in result.layers] == ["linear", "bias_add", "mul"]
    assert result.layers[0].has_bias is False


def test_add_that_broadcasts_the_output_is_not_a_bias(make_model, weights):
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["xw"], name="linear"),
        helper.make_node("Add", ["xw", "b"], ["y"], name="outer_add"),
    ]
    model = make_model(nodes, {"x": (1, 5)}, {"w": weights((5, 5)), "b": weights((5, 1))})
    result = extract_layers(model)
    assert [layer.name for layer in result.layers] == ["linear", "outer_add"]
    assert result.layers[0].has_bias is False
    assert result.layers[1].output_shapes == ((5, 5),)


def test_bias_with_leading_unit_dims_is_absorbed(make_model, weights):
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["xw"], name="linear"),
        helper.make_node("Add", ["xw", "b"], ["y"], name="bias_add"),
    ]
    model = make_model(nodes, {"x": (2, 3, 5)}, {"w": weights((5, 4)), "b": weights((1, 1, 4))})
    (layer,) = extract_layers(model).layers
    assert layer.has_bias is True


def test_matmul_of_two_activations_is_other(make_model):
    node = helper.make_node("MatMul", ["q", "k"], ["y"], name="attention")
    (layer,) = extract_layers(make_model([node], {"q": (2, 4, 8), "k": (2, 8, 4)})).layers
    assert isinstance(layer, OtherLayer)
    assert layer.layer_type == "other"
    assert layer.op_type == "MatMul"
    assert layer.num_inputs == 2
    assert layer.input_elements == 128
    assert layer.output_elements == 32


def test_matmul_by_a_3d_constant_is_other(make_model, weights):
    node = helper.make_node("MatMul", ["x", "w"], ["y"], name="batched")
    (layer,) = extract_layers(make_model([node], {"x": (2, 4, 8)}, {"w": weights((2, 8, 3))})).layers
    assert layer.layer_type == "other"


def test_dense_frame_columns(make_model, weights):
    layer = _matmul(make_model, weights, (2, 7, 8), (8, 5))
    frame = layers_to_frame([layer], "dense")
    assert list(frame.columns[:4]) == ["batch_size", "input_size", "output_size", "layer_name"]
    (row,) = frame.to_dict("records")
    assert [row[c] for c in frame.columns[:4]] == [2, 112, 70, "linear"]
    assert row["rows"] == 14
    assert row["input_rank"] == 3
