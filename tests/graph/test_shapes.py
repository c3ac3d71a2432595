"""Input shapes: the symbolic batch dimension, other symbolic dims, and supported opsets."""

from __future__ import annotations

import onnx
import pytest
from onnx import helper

from graph import ModelLoadError, ShapeError, extract_layers


@pytest.fixture
def conv_model(make_model, weights):
    """conv_model(input_shape, opset=17) -> a Conv(3 -> 4, 3x3) + Relu model with input 'x'."""

    def build(input_shape, opset=17):
        nodes = [
            helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
            helper.make_node("Relu", ["c"], ["y"], name="relu"),
        ]
        return make_model(nodes, {"x": input_shape}, {"w": weights((4, 3, 3, 3))}, outputs={"y": None}, opset=opset)

    return build


@pytest.mark.parametrize(("given", "batch", "assumed"), [(None, 1, True), (4, 4, False)])
def test_symbolic_batch_is_the_batch_size_given_or_1_assumed(conv_model, given, batch, assumed):
    result = extract_layers(conv_model(("N", 3, 8, 8)), batch_size=given)
    assert result.batch_size == batch
    assert result.batch_size_assumed is assumed
    assert result.input_shapes == (("x", (batch, 3, 8, 8)),)
    conv, relu = result.layers
    assert conv.batch_size == batch
    assert relu.batch_size == batch
    assert relu.output_shapes == ((batch, 4, 6, 6),)


def test_unnamed_unknown_batch_dim_is_treated_as_symbolic(make_model):
    value = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [None, 3])
    model = make_model([helper.make_node("Relu", ["x"], ["y"], name="relu")], {})
    model.graph.input.append(value)
    result = extract_layers(model, batch_size=5)
    assert result.input_shapes == (("x", (5, 3)),)


def test_fixed_batch_is_not_assumed(conv_model):
    result = extract_layers(conv_model((2, 3, 8, 8)))
    assert result.batch_size == 2
    assert result.batch_size_assumed is False


def test_fixed_batch_that_disagrees_with_batch_size_is_a_shape_error(conv_model):
    with pytest.raises(ShapeError, match="fixed batch"):
        extract_layers(conv_model((2, 3, 8, 8)), batch_size=4)


def test_non_positive_batch_size_is_rejected(conv_model):
    with pytest.raises(ValueError, match="batch_size"):
        extract_layers(conv_model(("N", 3, 8, 8)), batch_size=0)


def test_other_symbolic_dim_without_input_shapes_is_a_shape_error(conv_model, tmp_path):
    path = tmp_path / "symbolic.onnx"
    onnx.save_model(conv_model(("N", 3, "height", 8)), path)
    with pytest.raises(ShapeError) as caught:
        extract_layers(path)
    message = str(caught.value)
    assert str(path) in message
    assert "'x'" in message
    assert "dimension 2" in message
    assert "height" in message
    assert "--input-shape" in message


def test_given_input_shapes_fill_symbolic_dims(conv_model):
    result = extract_layers(conv_model(("N", 3, "height", "width")), input_shapes={"x": (2, 3, 10, 12)})
    assert result.input_shapes == (("x", (2, 3, 10, 12)),)
    assert result.batch_size == 2
    assert result.batch_size_assumed is False
    conv = result.layers[0]
    assert conv.input_chw == (3, 10, 12)
    assert conv.output_chw == (4, 8, 10)


def test_dimensions_size_symbolic_dims_by_name_in_every_input(make_model):
    nodes = [helper.make_node("Add", ["a", "b"], ["y"], name="add")]
    model = make_model(nodes, {"a": ("N", "seq", 8), "b": ("N", "seq", 8)})
    result = extract_layers(model, batch_size=2, dimensions={"seq": 5})
    assert result.input_shapes == (("a", (2, 5, 8)), ("b", (2, 5, 8)))
    assert result.layers[0].output_shapes == ((2, 5, 8),)
    assert result.batch_size == 2 and not result.batch_size_assumed


def test_a_named_batch_dimension_is_the_batch_size_and_not_assumed(conv_model):
    result = extract_layers(conv_model(("N", 3, 8, 8)), dimensions={"N": 3})
    assert result.batch_size == 3 and not result.batch_size_assumed
    with pytest.raises(ShapeError, match="batch dimension 'N' is given as 3 and the batch size as 2"):
        extract_layers(conv_model(("N", 3, 8, 8)), batch_size=2, dimensions={"N": 3})


@pytest.mark.parametrize(("dimensions", "message"), [
    ({"hieght": 8}, r"no input has a symbolic dimension named 'hieght' \(its symbolic dimensions: 'N', 'height'\)"),
    ({"height": 0}, "dimension 'height' = 0: must be positive"),
    ({"height": 2**41}, "at most 2\\*\\*40"),
    ({"height": "8"}, "expected a name and an int size"),
    (["height"], "dimensions must map names to sizes"),
])
def test_bad_dimensions_are_shape_errors(conv_model, dimensions, message):
    with pytest.raises(ShapeError, match=message):
        extract_layers(conv_model(("N", 3, "height", 8)), dimensions=dimensions)


def test_given_input_shape_must_keep_fixed_dims(conv_model):
    with pytest.raises(ShapeError, match="dimension 1 is fixed at 3"):
        extract_layers(conv_model(("N", 3, "height", 8)), input_shapes={"x": (1, 4, 8, 8)})


def test_input_shapes_for_an_unknown_input_name(conv_model):
    with pytest.raises(ShapeError, match="no graph input named 'y'"):
        extract_layers(conv_model(("N", 3, 8, 8)), input_shapes={"y": (1, 3, 8, 8)})


def test_input_without_declared_shape_needs_input_shapes(make_model):
    model = make_model([helper.make_node("Relu", ["x"], ["y"], name="relu")], {"x": None})
    with pytest.raises(ShapeError, match="--input-shape"):
        extract_layers(model)
    result = extract_layers(model, input_shapes={"x": (2, 5)})
    assert result.layers[0].output_shapes == ((2, 5),)


def test_opset_7_model_loads(conv_model):
    model = conv_model(("N", 3, 8, 8), opset=7)
    # An IR-3 model lists its initializers among the graph inputs.
    model.ir_version = 3
    model.graph.input.append(helper.make_tensor_value_info("w", onnx.TensorProto.FLOAT, [4, 3, 3, 3]))
    model.graph.output[0].CopyFrom(helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", 4, 6, 6]))
    onnx.checker.check_model(model)
    result = extract_layers(model, batch_size=2)
    assert result.opset == 7
    assert result.input_shapes == (("x", (2, 3, 8, 8)),)
    conv, relu = result.layers
    assert conv.output_chw == (4, 6, 6)
    assert relu.output_shapes == ((2, 4, 6, 6),)


def test_newest_opset_loads(conv_model):
    newest = onnx.defs.onnx_opset_version()
    result = extract_layers(conv_model(("N", 3, 8, 8), opset=newest))
    assert result.opset == newest
    assert result.layers[0].output_chw == (4, 6, 6)


def test_opset_6_is_a_load_error(conv_model, tmp_path):
    path = tmp_path / "old.onnx"
    onnx.save_model(conv_model((1, 3, 8, 8), opset=6), path)
    with pytest.raises(ModelLoadError) as caught:
        extract_layers(path)
    assert str(path) in str(caught.value)
    assert "opset 6" in str(caught.value)


def test_opset_newer_than_onnx_knows_is_a_load_error(conv_model):
    with pytest.raises(ModelLoadError, match="newer"):
        extract_layers(conv_model((1, 3, 8, 8), opset=onnx.defs.onnx_opset_version() + 1))


def test_batch_size_that_contradicts_a_given_input_shape_is_an_error(make_model):
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], {"x": ("N", 3)})
    with pytest.raises(ShapeError, match=r"given shape \(2, 3\) but batch size 4"):
        extract_layers(model, batch_size=4, input_shapes={"x": (2, 3)})
    assert extract_layers(model, batch_size=2, input_shapes={"x": (2, 3)}).batch_size == 2
