"""MaxPool, AveragePool, global pools and ReduceMean/ReduceMax over H, W -> PoolLayer."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper, numpy_helper

from graph import OtherLayer, PoolLayer, extract_layers, layers_to_frame


@pytest.fixture
def pool(make_model):
    """pool(op_type, input_shape, opset=19, **attributes) -> the one layer of a one-node model."""

    def build(op_type, input_shape, opset=19, **attributes):
        node = helper.make_node(op_type, ["x"], ["y"], name="pool", **attributes)
        (layer,) = extract_layers(make_model([node], {"x": input_shape}, opset=opset)).layers
        return layer

    return build


def test_max_pool_floor(pool):
    # (7 - 3) // 2 + 1 = 3
    layer = pool("MaxPool", (1, 2, 7, 7), kernel_shape=[3, 3], strides=[2, 2])
    assert isinstance(layer, PoolLayer)
    assert layer.layer_type == "pooling"
    assert layer.input_chw == (2, 7, 7)
    assert layer.output_chw == (2, 3, 3)
    assert layer.kernel == (3, 3)
    assert layer.stride == (2, 2)
    assert layer.pads == (0, 0, 0, 0)
    assert layer.pool_kind == "max"
    assert layer.is_global is False
    assert layer.ceil_mode is False


def test_stride_defaults_to_1(pool):
    layer = pool("MaxPool", (1, 2, 7, 7), kernel_shape=[3, 2])
    assert layer.stride == (1, 1)
    assert layer.output_chw == (2, 5, 6)


def test_ceil_mode_adds_a_partial_window(pool):
    # floor: (6 - 3) // 2 + 1 = 2; ceil: ceil(3 / 2) + 1 = 3, the last window starts at 4 < 6
    assert pool("MaxPool", (1, 2, 6, 6), kernel_shape=[3, 3], strides=[2, 2]).output_chw == (2, 2, 2)
    layer = pool("MaxPool", (1, 2, 6, 6), kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)
    assert layer.ceil_mode is True
    assert layer.output_chw == (2, 3, 3)


def test_ceil_mode_drops_a_window_that_starts_in_the_end_padding(pool):
    # padded 5 + 1 + 1 = 7: ceil((7 - 2) / 2) + 1 = 4, but window 4 would start at 6 >= 5 + 1 (all padding)
    layer = pool("MaxPool", (1, 2, 5, 5), kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1)
    assert layer.output_chw == (2, 3, 3)


def test_average_pool_ceil_mode(pool):
    # ceil((9 - 2) / 3) + 1 = 4, last window starts at 9 >= 9 -> 3 along H; W: ceil((10 - 2) / 3) + 1 = 4 (starts at 9)
    layer = pool("AveragePool", (1, 3, 9, 10), kernel_shape=[2, 2], strides=[3, 3], ceil_mode=1)
    assert layer.output_chw == (3, 3, 4)
    assert layer.pool_kind == "avg"


def test_symmetric_pads(pool):
    layer = pool("MaxPool", (1, 2, 5, 5), kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    assert layer.pads == (1, 1, 1, 1)
    assert layer.padding == (2, 2)
    assert layer.output_chw == (2, 5, 5)


def test_asymmetric_pads(pool):
    # pads [begin_h, begin_w, end_h, end_w] = [0, 1, 2, 0]: H 5 + 2 - 3 + 1 = 5; W 5 + 1 - 3 + 1 = 4
    layer = pool("MaxPool", (1, 2, 5, 5), kernel_shape=[3, 3], pads=[0, 1, 2, 0])
    assert layer.pads == (0, 1, 2, 0)
    assert layer.padding == (2, 1)
    assert layer.output_chw == (2, 5, 4)


def test_auto_pad_same_upper(pool):
    # out = ceil(5 / 2) = 3; total pad = 2 * 2 + 2 - 5 = 1 -> (0 begin, 1 end)
    layer = pool("MaxPool", (1, 2, 5, 5), kernel_shape=[2, 2], strides=[2, 2], auto_pad="SAME_UPPER")
    assert layer.output_chw == (2, 3, 3)
    assert layer.pads == (0, 0, 1, 1)


def test_auto_pad_same_lower(pool):
    layer = pool("MaxPool", (1, 2, 5, 5), kernel_shape=[2, 2], strides=[2, 2], auto_pad="SAME_LOWER")
    assert layer.output_chw == (2, 3, 3)
    assert layer.pads == (1, 1, 0, 0)


def test_auto_pad_same_with_stride_larger_than_kernel_needs_no_pad(pool):
    # out = ceil(4 / 2) = 2; (2 - 1) * 2 + 1 - 4 = -1 -> no padding (onnxruntime fails on this case)
    layer = pool("MaxPool", (1, 2, 4, 4), kernel_shape=[1, 1], strides=[2, 2], auto_pad="SAME_UPPER")
    assert layer.output_chw == (2, 2, 2)
    assert layer.pads == (0, 0, 0, 0)


def test_auto_pad_same_with_dilation_follows_the_spec(pool):
    # out = ceil(7 / 2) = 4; effective kernel 5; total pad = 3 * 2 + 5 - 7 = 4 -> (2, 2)
    # (ONNX shape inference agrees; onnxruntime pads for the undilated kernel and returns 3)
    layer = pool("MaxPool", (1, 2, 7, 7), kernel_shape=[3, 3], strides=[2, 2], dilations=[2, 2], auto_pad="SAME_UPPER")
    assert layer.output_chw == (2, 4, 4)
    assert layer.pads == (2, 2, 2, 2)


def test_auto_pad_valid(pool):
    # (5 - 2) // 2 + 1 = 2
    layer = pool("AveragePool", (1, 2, 5, 5), kernel_shape=[2, 2], strides=[2, 2], auto_pad="VALID")
    assert layer.output_chw == (2, 2, 2)
    assert layer.pads == (0, 0, 0, 0)


def test_count_include_pad(pool):
    included = pool("AveragePool", (1, 2, 5, 5), kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1)
    default = pool("AveragePool", (1, 2, 5, 5), kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    assert included.count_include_pad is True
    assert default.count_include_pad is False
    assert included.output_chw == default.output_chw == (2, 5, 5)


def test_max_pool_dilations(pool):
    # effective kernel (2 - 1) * 2 + 1 = 3: 5 - 3 + 1 = 3; W undilated: 5 - 2 + 1 = 4
    layer = pool("MaxPool", (1, 2, 5, 5), kernel_shape=[2, 2], dilations=[2, 1])
    assert layer.dilation == (2, 1)
    assert layer.kernel == (2, 2)
    assert layer.output_chw == (2, 3, 4)


def test_average_pool_dilations(pool):
    # opset 19 AveragePool: effective kernel 3: 6 - 3 + 1 = 4
    layer = pool("AveragePool", (1, 2, 6, 6), kernel_shape=[2, 2], dilations=[2, 2])
    assert layer.dilation == (2, 2)
    assert layer.output_chw == (2, 4, 4)


def test_one_dimensional_max_pool(pool):
    # (10 - 3) // 2 + 1 = 4
    layer = pool("MaxPool", (1, 2, 10), kernel_shape=[3], strides=[2])
    assert layer.input_chw == (2, 1, 10)
    assert layer.output_chw == (2, 1, 4)
    assert layer.kernel == (1, 3)
    assert layer.stride == (1, 2)


@pytest.mark.parametrize(("op_type", "kind"), [("GlobalAveragePool", "avg"), ("GlobalMaxPool", "max")])
def test_global_pool(pool, op_type, kind):
    layer = pool(op_type, (2, 8, 7, 5))
    assert isinstance(layer, PoolLayer)
    assert layer.op_type == op_type
    assert layer.pool_kind == kind
    assert layer.is_global is True
    assert layer.batch_size == 2
    assert layer.input_chw == (8, 7, 5)
    assert layer.output_chw == (8, 1, 1)
    assert layer.kernel == (7, 5)
    assert layer.stride == (1, 1)
    assert layer.pads == (0, 0, 0, 0)


@pytest.mark.parametrize("keepdims", [0, 1])
@pytest.mark.parametrize("axes", [[2, 3], [-2, -1], [3, 2]])
def test_reduce_mean_axes_attribute_opset_13(pool, axes, keepdims):
    layer = pool("ReduceMean", (1, 16, 7, 6), opset=13, axes=axes, keepdims=keepdims)
    assert isinstance(layer, PoolLayer)
    assert layer.op_type == "ReduceMean"
    assert layer.pool_kind == "avg"
    assert layer.is_global is True
    assert layer.input_chw == (16, 7, 6)
    assert layer.output_chw == (16, 1, 1)
    assert layer.kernel == (7, 6)
    assert layer.stride == (1, 1)


def test_reduce_max_is_max_pooling(pool):
    layer = pool("ReduceMax", (1, 16, 7, 6), opset=13, axes=[2, 3])
    assert isinstance(layer, PoolLayer)
    assert layer.pool_kind == "max"
    assert layer.is_global is True


@pytest.mark.parametrize("keepdims", [0, 1])
@pytest.mark.parametrize("axes", [[2, 3], [-2, -1]])
@pytest.mark.parametrize("op_type", ["ReduceMean", "ReduceMax"])
def test_reduce_axes_initializer_input_opset_18(make_model, op_type, axes, keepdims):
    node = helper.make_node(op_type, ["x", "axes"], ["y"], name="reduce", keepdims=keepdims)
    model = make_model([node], {"x": (2, 16, 7, 6)}, {"axes": np.array(axes, dtype=np.int64)}, opset=18)
    (layer,) = extract_layers(model).layers
    assert isinstance(layer, PoolLayer)
    assert layer.is_global is True
    assert layer.batch_size == 2
    assert layer.input_chw == (16, 7, 6)
    assert layer.output_chw == (16, 1, 1)
    assert layer.kernel == (7, 6)


def test_reduce_axes_from_a_constant_node_opset_18(make_model):
    axes = numpy_helper.from_array(np.array([-2, -1], dtype=np.int64), "axes_value")
    nodes = [
        helper.make_node("Constant", [], ["axes"], name="axes", value=axes),
        helper.make_node("ReduceMean", ["x", "axes"], ["y"], name="mean", keepdims=0),
    ]
    result = extract_layers(make_model(nodes, {"x": (1, 16, 7, 6)}, opset=18))
    (pool_layer,) = result.of_type("pooling")
    assert pool_layer.name == "mean"
    assert pool_layer.kernel == (7, 6)
    assert pool_layer.output_chw == (16, 1, 1)


@pytest.mark.parametrize("axes", [[-1], [3], [1], [1, 2]])
def test_reduce_mean_not_over_both_spatial_axes_is_other(pool, axes):
    layer = pool("ReduceMean", (1, 16, 7, 6), opset=13, axes=axes)
    assert isinstance(layer, OtherLayer)
    assert layer.layer_type == "other"
    assert layer.op_type == "ReduceMean"


def test_reduce_mean_over_last_axis_opset_18_is_other(make_model):
    node = helper.make_node("ReduceMean", ["x", "axes"], ["y"], name="mean", keepdims=1)
    model = make_model([node], {"x": (1, 7, 6, 16)}, {"axes": np.array([-1], dtype=np.int64)}, opset=18)
    (layer,) = extract_layers(model).layers
    assert layer.layer_type == "other"
    assert layer.output_shapes == ((1, 7, 6, 1),)


def test_reduce_mean_over_all_axes_is_other(pool):
    layer = pool("ReduceMean", (1, 16, 7, 6), opset=13)
    assert layer.layer_type == "other"


def test_pooling_frame_columns(pool):
    layer = pool("MaxPool", (1, 2, 7, 7), kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    frame = layers_to_frame([layer], "pooling")
    assert list(frame.columns[:12]) == [
        "batch_size", "input_size_0", "input_size_1", "input_size_2",
        "output_size_0", "output_size_1", "output_size_2", "kernel_0", "kernel_1",
        "stride_0", "stride_1", "layer_name",
    ]
    (row,) = frame.to_dict("records")
    # (7 + 2 - 3) // 2 + 1 = 4
    assert [row[c] for c in frame.columns[:12]] == [1, 2, 7, 7, 2, 4, 4, 3, 3, 2, 2, "pool"]
    assert row["padding_0"] == 2
    assert row["is_global"] == 0
