"""Records of the op families issue 11 added: 3-D convs and pools, ConvTranspose, int8 ops (QOperator and
QDQ), products of activations (MatMul, Einsum), recurrent cells, and the extra columns of Resize/Softmax."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from graph import ConvLayer, DenseLayer, MatMulLayer, OtherLayer, PoolLayer, RecurrentLayer, extract_layers, layer_row
from graph.records import layer_kind

U8, I8 = np.uint8, np.int8


def _scalar(value, dtype=np.float32):
    return np.array(value, dtype=dtype)


def test_3d_conv_keeps_c_h_w_and_adds_depth(make_model, weights):
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="conv3d", strides=[1, 2, 2], pads=[1, 1, 1, 1, 1, 1])
    (layer,) = extract_layers(make_model([node], {"x": (2, 3, 8, 16, 16)}, {"w": weights((4, 3, 3, 3, 3))})).layers
    assert isinstance(layer, ConvLayer)
    assert (layer.input_chw, layer.output_chw, layer.kernel, layer.stride) == ((3, 16, 16), (4, 8, 8), (3, 3), (2, 2))
    assert (layer.spatial_rank, layer.depth.input, layer.depth.output, layer.depth.kernel) == (3, 8, 8, 3)
    assert layer.depth.pads == (1, 1)
    assert layer.macs == 2 * 4 * 8 * 8 * 8 * 3 * 27
    assert layer_kind(layer) == "conv3d"
    row = layer_row(layer)
    assert (row["input_depth"], row["kernel_depth"], row["padding_depth"], row["spatial_rank"]) == (8, 3, 2, 3)


def test_3d_pools(make_model):
    nodes = [helper.make_node("MaxPool", ["x"], ["p"], name="pool", kernel_shape=[1, 2, 2], strides=[1, 2, 2]),
             helper.make_node("GlobalAveragePool", ["p"], ["y"], name="gap")]
    pool, gap = extract_layers(make_model(nodes, {"x": (1, 4, 6, 8, 8)})).layers
    assert isinstance(pool, PoolLayer) and isinstance(gap, PoolLayer)
    assert (pool.output_chw, pool.depth.input, pool.depth.output, pool.depth.kernel) == ((4, 4, 4), 6, 6, 1)
    assert gap.is_global and gap.depth.kernel == 6 and gap.spatial_rank == 3
    assert layer_kind(pool) == "pool3d"


def test_conv_transpose_counts_macs_per_input_element(make_model, weights):
    node = helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], name="up", strides=[2, 2], output_padding=[1, 1])
    model = make_model([node], {"x": (1, 4, 5, 5)}, {"w": weights((4, 2, 3, 3)), "b": weights((2,))})
    (layer,) = extract_layers(model).layers
    assert isinstance(layer, ConvLayer) and layer.transposed
    assert (layer.input_chw, layer.output_chw, layer.kernel, layer.stride) == ((4, 5, 5), (2, 12, 12), (3, 3), (2, 2))
    assert layer.output_padding == (1, 1) and layer.has_bias
    assert layer.macs == 1 * 4 * 5 * 5 * 2 * 9
    assert layer_row(layer)["transposed"] == 1
    assert layer_kind(layer) == "conv_transpose"


def test_qlinear_conv_is_an_int8_conv(make_model):
    node = helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"], ["y"], name="qconv")
    initializers = {"xs": _scalar(0.1), "xz": _scalar(0, U8), "w": np.ones((4, 3, 3, 3), I8), "ws": _scalar(0.1),
                    "wz": _scalar(0, I8), "ys": _scalar(0.1), "yz": _scalar(0, U8)}
    (layer,) = extract_layers(make_model([node], {"x": ((1, 3, 8, 8), "uint8")}, initializers)).layers
    assert isinstance(layer, ConvLayer)
    assert (layer.dtype, layer.dtype_bytes, layer.output_chw) == ("uint8", 1, (4, 6, 6))
    assert layer_kind(layer) == "conv-int8"


def test_onnx_runtime_int8_ops_are_modeled(make_model):
    nodes = [
        helper.make_node("QLinearAdd", ["x", "s", "z", "x", "s", "z", "s", "z"], ["a"], name="qadd", domain="com.microsoft"),
        helper.make_node("QLinearGlobalAveragePool", ["a", "s", "z", "s", "z"], ["g"], name="qgap",
                         domain="com.microsoft", channels_last=0),
        helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
        helper.make_node("QGemm", ["f", "s", "z", "w", "s", "wz", "", "s", "z"], ["y"], name="qgemm",
                         domain="com.microsoft", transB=1),
    ]
    initializers = {"s": _scalar(0.1), "z": _scalar(0, U8), "w": np.ones((10, 8), I8), "wz": _scalar(0, I8)}
    model = make_model(nodes, {"x": ((1, 8, 4, 4), "uint8")}, initializers, extra_opsets={"com.microsoft": 1})
    result = extract_layers(model)
    assert result.unmodeled == ()
    qadd, qgap, _, qgemm = result.layers
    assert isinstance(qadd, OtherLayer) and qadd.output_shapes == ((1, 8, 4, 4),) and qadd.dtype == "uint8"
    assert isinstance(qgap, PoolLayer) and qgap.is_global and qgap.input_chw == (8, 4, 4)
    assert isinstance(qgemm, DenseLayer) and (qgemm.rows, qgemm.in_features, qgemm.out_features) == (1, 8, 10)
    assert layer_kind(qgemm) == "dense-int8"


def test_qdq_conv_is_one_int8_layer(make_model):
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"], name="q_in"),
        helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"], name="dq_x"),
        helper.make_node("DequantizeLinear", ["w", "s", "wz"], ["wd"], name="dq_w"),
        helper.make_node("Conv", ["xd", "wd"], ["c"], name="conv"),
        helper.make_node("QuantizeLinear", ["c", "s", "z"], ["cq"], name="q_out"),
        helper.make_node("DequantizeLinear", ["cq", "s", "z"], ["y"], name="dq_out"),
    ]
    initializers = {"s": _scalar(0.1), "z": _scalar(0, U8), "w": np.ones((4, 3, 3, 3), I8), "wz": _scalar(0, I8)}
    result = extract_layers(make_model(nodes, {"x": (1, 3, 8, 8)}, initializers))
    assert [(layer.name, layer.dtype) for layer in result.layers] == [
        ("q_in", "float32"), ("conv", "uint8"), ("dq_out", "uint8")]
    assert result.node_count == 6  # dq_x, dq_w and q_out are the int8 conv's own


def test_matmul_of_activations_carries_its_batched_dims(make_model):
    node = helper.make_node("MatMul", ["q", "k"], ["y"], name="scores")
    (layer,) = extract_layers(make_model([node], {"q": (2, 3, 5, 8), "k": (1, 3, 8, 7)})).layers
    assert isinstance(layer, MatMulLayer) and layer.layer_type == "other"
    assert (layer.matrices, layer.m, layer.k, layer.n, layer.b_is_constant) == (6, 5, 8, 7, False)
    assert layer.macs == 6 * 5 * 8 * 7
    row = layer_row(layer)
    assert (row["matrices"], row["m"], row["k"], row["n"], row["macs"]) == (6, 5, 8, 7, 1680)


def test_einsum_as_a_batched_product(make_model):
    node = helper.make_node("Einsum", ["q", "k"], ["y"], name="scores", equation="bhqd,bhkd->bhqk")
    (layer,) = extract_layers(make_model([node], {"q": (2, 4, 6, 8), "k": (2, 4, 5, 8)}, opset=17)).layers
    assert isinstance(layer, MatMulLayer)
    assert (layer.matrices, layer.m, layer.k, layer.n, layer.equation) == (8, 6, 8, 5, "bhqd,bhkd->bhqk")


def test_lstm_record(make_model, weights):
    node = helper.make_node("LSTM", ["x", "w", "r", "b"], ["y", "h"], name="lstm", hidden_size=4,
                            direction="bidirectional")
    model = make_model([node], {"x": (5, 2, 3)},
                       {"w": weights((2, 16, 3)), "r": weights((2, 16, 4)), "b": weights((2, 32))})
    (layer,) = extract_layers(model).layers
    assert isinstance(layer, RecurrentLayer)
    assert (layer.sequence_length, layer.rows, layer.input_features, layer.hidden, layer.directions) == (5, 2, 3, 4, 2)
    assert layer.macs == 2 * 5 * 2 * 4 * 4 * (3 + 4)
    assert layer_row(layer)["hidden"] == 4 and layer_kind(layer) == "lstm"


def test_resize_row_has_mode_and_scales(make_model):
    scales = np.array([1, 1, 2, 2], dtype=np.float32)
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], name="up", mode="linear")
    (layer,) = extract_layers(make_model([node], {"x": (1, 3, 4, 5)}, {"scales": scales})).layers
    row = layer_row(layer)
    assert (row["resize_mode"], row["scale_h"], row["scale_w"], row["output_elements"]) == ("linear", 2.0, 2.0, 240)


def test_softmax_and_layer_norm_rows_have_their_axis_size(make_model, weights):
    nodes = [helper.make_node("Softmax", ["x"], ["s"], name="softmax", axis=-1),
             helper.make_node("LayerNormalization", ["s", "g", "b"], ["y"], name="norm", axis=-1)]
    softmax, norm = extract_layers(make_model(nodes, {"x": (2, 4, 6)}, {"g": weights((6,)), "b": weights((6,))})).layers
    assert (layer_row(softmax)["axis_size"], layer_row(softmax)["outer_rows"]) == (6, 8)
    assert layer_row(norm)["axis_size"] == 6


def test_weight_through_identity_and_cast_is_a_constant(make_model, weights):
    nodes = [helper.make_node("Identity", ["w"], ["w_shared"], name="share"),
             helper.make_node("Cast", ["w_shared"], ["w_cast"], name="cast", to=onnx.TensorProto.FLOAT),
             helper.make_node("MatMul", ["x", "w_cast"], ["y"], name="linear")]
    layers = extract_layers(make_model(nodes, {"x": (2, 8)}, {"w": weights((8, 4))})).layers
    identity, cast, linear = layers
    assert identity.is_free and cast.is_free
    assert isinstance(linear, DenseLayer) and (linear.in_features, linear.out_features) == (8, 4)


def test_non_zero_output_takes_its_upper_bound_and_is_data_dependent(make_model):
    nodes = [helper.make_node("NonZero", ["x"], ["i"], name="nonzero"),
             helper.make_node("Transpose", ["i"], ["t"], name="transpose"),
             helper.make_node("Cast", ["t"], ["y"], name="cast", to=onnx.TensorProto.FLOAT)]
    result = extract_layers(make_model(nodes, {"x": (2, 3, 4)}))
    nonzero, _, cast = result.layers
    assert nonzero.output_shapes == ((3, 24),)
    assert cast.output_shapes == ((24, 3),)
    assert result.data_dependent == ("nonzero", "transpose", "cast")
