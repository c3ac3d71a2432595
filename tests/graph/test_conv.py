"""Conv -> ConvLayer: window arithmetic, groups, 1-D convs, costs and the convolutional frame."""

from __future__ import annotations

import pytest
from onnx import helper

from graph import ConvLayer, extract_layers, layers_to_frame


@pytest.fixture
def conv(make_model, weights):
    """conv(input_shape, weight_shape, bias=False, dtype='float32', **attributes) -> the ConvLayer."""

    def build(input_shape, weight_shape, bias=False, dtype="float32", **attributes):
        initializers = {"w": weights(weight_shape, dtype)}
        names = ["x", "w"]
        if bias:
            initializers["b"] = weights((weight_shape[0],), dtype)
            names.append("b")
        node = helper.make_node("Conv", names, ["y"], name="conv", **attributes)
        model = make_model([node], {"x": (input_shape, dtype)}, initializers)
        (layer,) = extract_layers(model).layers
        assert isinstance(layer, ConvLayer)
        return layer

    return build


def test_kernel_from_weight(conv):
    layer = conv((1, 3, 10, 10), (4, 3, 3, 5))
    assert layer.kernel == (3, 5)
    assert layer.input_chw == (3, 10, 10)
    assert layer.output_chw == (4, 8, 6)
    assert layer.layer_type == "convolutional"
    assert layer.op_type == "Conv"
    assert layer.name == "conv"


def test_kernel_from_attribute(conv):
    layer = conv((1, 3, 10, 10), (4, 3, 3, 5), kernel_shape=[3, 5])
    assert layer.kernel == (3, 5)
    assert layer.output_chw == (4, 8, 6)


def test_strides(conv):
    # H: (10 - 3) // 2 + 1 = 4; W: (10 - 3) // 3 + 1 = 3
    layer = conv((1, 3, 10, 10), (4, 3, 3, 3), strides=[2, 3])
    assert layer.stride == (2, 3)
    assert layer.output_chw == (4, 4, 3)


def test_dilations(conv):
    # effective kernel (3 - 1) * 2 + 1 = 5 along H: 10 - 5 + 1 = 6; W undilated: 10 - 3 + 1 = 8
    layer = conv((1, 3, 10, 10), (4, 3, 3, 3), dilations=[2, 1])
    assert layer.dilation == (2, 1)
    assert layer.kernel == (3, 3)
    assert layer.output_chw == (4, 6, 8)


def test_explicit_pads_are_summed_per_axis(conv):
    # pads = [begin_h, begin_w, end_h, end_w] = [1, 2, 3, 0]: H 10 + 4 - 3 + 1 = 12, W 10 + 2 - 3 + 1 = 10
    layer = conv((1, 3, 10, 10), (4, 3, 3, 3), pads=[1, 2, 3, 0])
    assert layer.pads == (1, 2, 3, 0)
    assert layer.padding == (4, 2)
    assert layer.output_chw == (4, 12, 10)


def test_auto_pad_notset_uses_explicit_pads(conv):
    # H: (10 + 2 - 4) // 3 + 1 = 3; W: (8 + 2 - 4) // 3 + 1 = 3
    layer = conv((1, 3, 10, 8), (4, 3, 4, 4), strides=[3, 3], pads=[1, 1, 1, 1], auto_pad="NOTSET")
    assert layer.pads == (1, 1, 1, 1)
    assert layer.output_chw == (4, 3, 3)


def test_auto_pad_same_upper_puts_the_odd_pad_at_the_end(conv):
    # out = ceil(size / stride): H ceil(10/3) = 4, W ceil(8/3) = 3
    # total pad = (out - 1) * stride + kernel - size: H 9 + 4 - 10 = 3 -> (1, 2); W 6 + 4 - 8 = 2 -> (1, 1)
    layer = conv((1, 3, 10, 8), (4, 3, 4, 4), strides=[3, 3], auto_pad="SAME_UPPER")
    assert layer.output_chw == (4, 4, 3)
    assert layer.pads == (1, 1, 2, 1)
    assert layer.padding == (3, 2)


def test_auto_pad_same_lower_puts_the_odd_pad_at_the_begin(conv):
    layer = conv((1, 3, 10, 8), (4, 3, 4, 4), strides=[3, 3], auto_pad="SAME_LOWER")
    assert layer.output_chw == (4, 4, 3)
    assert layer.pads == (2, 1, 1, 1)
    assert layer.padding == (3, 2)


def test_auto_pad_same_with_stride_1_keeps_the_size(conv):
    # total pad = kernel - 1 = 4 -> (2, 2) on both axes
    layer = conv((1, 3, 7, 9), (4, 3, 5, 5), auto_pad="SAME_UPPER")
    assert layer.output_chw == (4, 7, 9)
    assert layer.pads == (2, 2, 2, 2)


def test_auto_pad_same_with_dilation_follows_the_spec(conv):
    # out = ceil(7 / 2) = 4; effective kernel (3 - 1) * 2 + 1 = 5; total pad = 3 * 2 + 5 - 7 = 4 -> (2, 2)
    # (onnxruntime's Conv does not implement this case; the values follow the ONNX spec.)
    layer = conv((1, 3, 7, 7), (4, 3, 3, 3), strides=[2, 2], dilations=[2, 2], auto_pad="SAME_UPPER")
    assert layer.output_chw == (4, 4, 4)
    assert layer.pads == (2, 2, 2, 2)


def test_auto_pad_valid_means_no_padding(conv):
    # H: (10 - 4) // 3 + 1 = 3; W: (8 - 4) // 3 + 1 = 2
    layer = conv((1, 3, 10, 8), (4, 3, 4, 4), strides=[3, 3], auto_pad="VALID")
    assert layer.pads == (0, 0, 0, 0)
    assert layer.padding == (0, 0)
    assert layer.output_chw == (4, 3, 2)


def test_group(conv):
    layer = conv((1, 4, 6, 6), (8, 2, 3, 3), group=2)
    assert layer.groups == 2
    assert layer.output_chw == (8, 4, 4)
    assert layer.params == 8 * 2 * 3 * 3  # 144
    assert layer.macs == 8 * 4 * 4 * (2 * 3 * 3)  # 2304


def test_depthwise(conv):
    layer = conv((1, 4, 6, 6), (4, 1, 3, 3), bias=True, group=4)
    assert layer.groups == 4
    assert layer.output_chw == (4, 4, 4)
    assert layer.params == 4 * 1 * 9 + 4  # 40
    assert layer.macs == 4 * 4 * 4 * 9  # 576


def test_one_dimensional_conv_is_read_as_height_1(conv):
    # W: (10 + 1 + 2 - 3) // 2 + 1 = 6
    layer = conv((1, 3, 10), (5, 3, 3), strides=[2], pads=[1, 2])
    assert layer.input_chw == (3, 1, 10)
    assert layer.output_chw == (5, 1, 6)
    assert layer.kernel == (1, 3)
    assert layer.stride == (1, 2)
    assert layer.dilation == (1, 1)
    assert layer.pads == (0, 1, 0, 2)
    assert layer.padding == (0, 3)


def test_one_dimensional_dilated_conv(conv):
    # effective kernel (3 - 1) * 3 + 1 = 7: 12 - 7 + 1 = 6
    layer = conv((2, 3, 12), (5, 3, 3), dilations=[3])
    assert layer.output_chw == (5, 1, 6)
    assert layer.dilation == (1, 3)
    assert layer.batch_size == 2


def test_has_bias(conv):
    assert conv((1, 3, 5, 5), (4, 3, 3, 3), bias=True).has_bias is True
    assert conv((1, 3, 5, 5), (4, 3, 3, 3), bias=False).has_bias is False


def test_empty_bias_input_is_no_bias(make_model, weights):
    node = helper.make_node("Conv", ["x", "w", ""], ["y"], name="conv")
    model = make_model([node], {"x": (1, 3, 5, 5)}, {"w": weights((4, 3, 3, 3))})
    (layer,) = extract_layers(model).layers
    assert layer.has_bias is False


def test_float32_costs(conv):
    # x 2x3x8x8, w 4x3x3x3 + bias -> y 2x4x6x6
    layer = conv((2, 3, 8, 8), (4, 3, 3, 3), bias=True)
    assert layer.output_chw == (4, 6, 6)
    assert layer.dtype == "float32"
    assert layer.dtype_bytes == 4
    assert layer.params == 112  # 4 * 3 * 3 * 3 + 4
    assert layer.macs == 7776  # 2 * 4 * 6 * 6 * (3 * 3 * 3)
    (row,) = layers_to_frame([layer], "convolutional").to_dict("records")
    assert row["macs"] == 7776
    assert row["params"] == 112
    assert row["input_bytes"] == 1536  # 2 * 3 * 8 * 8 * 4
    assert row["weight_bytes"] == 448  # 112 * 4
    assert row["output_bytes"] == 1152  # 2 * 4 * 6 * 6 * 4
    assert row["has_bias"] == 1


def test_float16_costs(conv):
    layer = conv((2, 3, 8, 8), (4, 3, 3, 3), bias=True, dtype="float16")
    assert layer.dtype == "float16"
    assert layer.dtype_bytes == 2
    (row,) = layers_to_frame([layer], "convolutional").to_dict("records")
    assert row["macs"] == 7776
    assert row["params"] == 112
    assert row["input_bytes"] == 768
    assert row["weight_bytes"] == 224
    assert row["output_bytes"] == 576


def test_macs_scale_with_batch_size(make_model, weights):
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="conv")
    model = make_model([node], {"x": ("N", 3, 8, 8)}, {"w": weights((4, 3, 3, 3))})
    one = extract_layers(model).layers[0]
    eight = extract_layers(model, batch_size=8).layers[0]
    assert one.macs == 3888  # 4 * 6 * 6 * 27
    assert eight.macs == 8 * 3888
    assert eight.params == one.params == 108


def test_frame_columns_and_values(conv):
    layer = conv((1, 4, 9, 9), (8, 2, 3, 3), group=2, strides=[2, 2], dilations=[2, 1], pads=[1, 0, 2, 1])
    frame = layers_to_frame([layer], "convolutional")
    assert list(frame.columns[:14]) == [
        "batch_size", "input_size_0", "input_size_1", "input_size_2",
        "output_size_0", "output_size_1", "output_size_2", "kernel_0", "kernel_1",
        "padding_0", "padding_1", "stride_0", "stride_1", "layer_name",
    ]
    (row,) = frame.to_dict("records")
    # H: (9 + 3 - 5) // 2 + 1 = 4; W: (9 + 1 - 3) // 2 + 1 = 4
    assert row == {
        **row,
        "batch_size": 1, "input_size_0": 4, "input_size_1": 9, "input_size_2": 9,
        "output_size_0": 8, "output_size_1": 4, "output_size_2": 4, "kernel_0": 3, "kernel_1": 3,
        "padding_0": 3, "padding_1": 1, "stride_0": 2, "stride_1": 2, "layer_name": "conv",
        "groups": 2, "dilation_0": 2, "dilation_1": 1,
    }


def test_frame_keeps_only_the_requested_type(make_model, weights):
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
        helper.make_node("Relu", ["c"], ["y"], name="relu"),
    ]
    model = make_model(nodes, {"x": (1, 3, 5, 5)}, {"w": weights((4, 3, 3, 3))})
    frame = layers_to_frame(extract_layers(model).layers, "convolutional")
    assert list(frame["layer_name"]) == ["conv"]


def test_empty_frame_has_the_seed_columns():
    frame = layers_to_frame([], "convolutional")
    assert len(frame) == 0
    assert list(frame.columns) == [
        "batch_size", "input_size_0", "input_size_1", "input_size_2",
        "output_size_0", "output_size_1", "output_size_2", "kernel_0", "kernel_1",
        "padding_0", "padding_1", "stride_0", "stride_1", "layer_name",
    ]
