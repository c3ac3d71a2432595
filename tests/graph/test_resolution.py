"""Shapes ONNX's own inference leaves unknown (graph/shapes.py), the batch axis (graph/batch.py) and the
schema check that refuses what ONNX Runtime would refuse (graph/schemas.py)."""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
from onnx import helper

from graph import DenseLayer, ModelLoadError, ShapeError, extract_layers


def _ints(*values):
    return np.array(values, dtype=np.int64)


def test_reshape_target_computed_with_div_is_resolved(make_model, tmp_path, monkeypatch):
    # x.reshape(n, c, h * w // 4, 4): ONNX's data propagation stops at Div, the pass does not.
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"], name="shape"),
        helper.make_node("Gather", ["shape", "two"], ["h"], name="gather_h", axis=0),
        helper.make_node("Div", ["h", "four"], ["h4"], name="div"),
        helper.make_node("Concat", ["head", "h4", "tail"], ["target"], name="concat", axis=0),
        helper.make_node("Reshape", ["x", "target"], ["r"], name="reshape"),
        helper.make_node("Relu", ["r"], ["y"], name="relu"),
    ]
    initializers = {"two": _ints(2), "four": _ints(4), "head": _ints(1, 3), "tail": _ints(-1)}
    model = make_model(nodes, {"x": (1, 3, 8, 8)}, {k: v.reshape(1) if k in ("two", "four") else v
                                                    for k, v in initializers.items()})
    monkeypatch.chdir(tmp_path)
    result = extract_layers(model)
    assert result.unmodeled == ()
    assert result.layers[-1].output_shapes == ((1, 3, 2, 32),)
    assert os.listdir(tmp_path) == []  # nothing written to the working directory


def test_repeated_blocks_are_resolved_each_with_its_own_sizes(make_model):
    # Three blocks x.reshape(n, c, h * w // 4, 4) with identical ops and attributes (the pass answers a repeated
    # question once): the block over 'b' asks with other values and must get its own sizes.
    nodes, outputs = [], {}
    for block, source in enumerate(("a", "b", "a")):
        nodes += [
            helper.make_node("Shape", [source], [f"shape{block}"]),
            helper.make_node("Gather", [f"shape{block}", "two"], [f"h{block}"], axis=0),
            helper.make_node("Div", [f"h{block}", "four"], [f"h4_{block}"]),
            helper.make_node("Concat", ["head", f"h4_{block}", "tail"], [f"target{block}"], axis=0),
            helper.make_node("Reshape", [source, f"target{block}"], [f"r{block}"]),
            helper.make_node("Relu", [f"r{block}"], [f"y{block}"], name=f"relu{block}"),
        ]
        outputs[f"y{block}"] = None
    initializers = {"two": _ints(2), "four": _ints(4), "head": _ints(1, 3), "tail": _ints(-1)}
    result = extract_layers(make_model(nodes, {"a": (1, 3, 8, 8), "b": (1, 3, 4, 4)}, initializers, outputs=outputs))
    relus = {layer.name: layer.output_shapes for layer in result.layers if layer.op_type == "Relu"}
    assert relus == {"relu0": ((1, 3, 2, 32),), "relu1": ((1, 3, 1, 16),), "relu2": ((1, 3, 2, 32),)}


def test_if_with_a_known_condition_takes_its_branch_shapes(make_model):
    then_branch = helper.make_graph([helper.make_node("Relu", ["x"], ["t"])], "then", [],
                                    [helper.make_tensor_value_info("t", onnx.TensorProto.FLOAT, None)])
    else_branch = helper.make_graph([helper.make_node("Transpose", ["x"], ["e"])], "else", [],
                                    [helper.make_tensor_value_info("e", onnx.TensorProto.FLOAT, None)])
    nodes = [
        helper.make_node("Size", ["x"], ["n"], name="size"),
        helper.make_node("Equal", ["n", "zero"], ["empty"], name="is_empty"),
        helper.make_node("If", ["empty"], ["z"], name="if", then_branch=then_branch, else_branch=else_branch),
        helper.make_node("Sigmoid", ["z"], ["y"], name="sigmoid"),
    ]
    result = extract_layers(make_model(nodes, {"x": (2, 5)}, {"zero": _ints(0).reshape(())}))
    assert [node.op_type for node in result.unmodeled] == ["If"]
    assert result.layers[-1].output_shapes == ((5, 2),)  # x is not empty: the else branch's transpose


def test_symbolic_batch_on_axis_1_of_a_sequence_first_input(make_model, weights):
    node = helper.make_node("LSTM", ["x", "w", "r"], ["y"], name="lstm", hidden_size=4)
    model = make_model([node], {"x": (5, "batch", 3)}, {"w": weights((1, 16, 3)), "r": weights((1, 16, 4))})
    result = extract_layers(model, batch_size=6)
    assert result.input_shapes == (("x", (5, 6, 3)),)
    assert (result.batch_size, result.batch_axes) == (6, (("x", 1),))
    assert result.layers[0].rows == 6


def test_fixed_sequence_first_attention_input_has_its_batch_on_axis_1(make_model, weights):
    # (seq 6, batch 1, features 8) -> Linear -> (6, heads 2, 4) -> attention over the sequence
    nodes = [
        helper.make_node("MatMul", ["x", "wq"], ["q"], name="q_proj"),
        helper.make_node("MatMul", ["x", "wk"], ["k"], name="k_proj"),
        helper.make_node("Reshape", ["q", "heads"], ["q_heads"], name="q_split"),
        helper.make_node("Reshape", ["k", "heads"], ["k_heads"], name="k_split"),
        helper.make_node("Transpose", ["q_heads"], ["q_t"], name="q_t", perm=[1, 0, 2]),
        helper.make_node("Transpose", ["k_heads"], ["k_t"], name="k_t", perm=[1, 2, 0]),
        helper.make_node("MatMul", ["q_t", "k_t"], ["scores"], name="scores"),
        helper.make_node("Softmax", ["scores"], ["y"], name="softmax", axis=-1),
    ]
    model = make_model(nodes, {"x": (6, 1, 8)},
                       {"wq": weights((8, 8)), "wk": weights((8, 8)), "heads": _ints(6, 2, 4)})
    result = extract_layers(model)
    assert (result.batch_size, result.batch_axes) == (1, (("x", 1),))
    assert all(layer.batch_size == 1 for layer in result.layers)
    with pytest.raises(ShapeError, match="axis 1"):
        extract_layers(model, batch_size=4)


def test_dense_batch_size_is_the_model_batch_and_rows_the_rows_computed(make_model, weights):
    # ViT-like: the QKV Linear runs on 2-D (tokens, features) rows, the MLP on 3-D tensors.
    nodes = [
        helper.make_node("Reshape", ["x", "flat"], ["rows"], name="flatten_tokens"),
        helper.make_node("Gemm", ["rows", "w1"], ["qkv"], name="qkv"),
        helper.make_node("MatMul", ["x", "w2"], ["y"], name="mlp"),
    ]
    model = make_model(nodes, {"x": ("N", 5, 8)}, {"flat": _ints(-1, 8), "w1": weights((8, 24)), "w2": weights((8, 16))})
    qkv, mlp = [layer for layer in extract_layers(model, batch_size=2).layers if isinstance(layer, DenseLayer)]
    assert (qkv.batch_size, qkv.rows) == (2, 10)
    assert (mlp.batch_size, mlp.rows) == (2, 10)


def test_opset_18_attribute_in_an_opset_17_model_is_refused(make_model):
    node = helper.make_node("Split", ["x"], ["a", "b"], name="split", axis=1, num_outputs=2)
    model = make_model([node], {"x": (1, 4)}, outputs={"a": None, "b": None})
    with pytest.raises(ModelLoadError, match=r"'split' \(Split\): attribute 'num_outputs' .* opset 17 .* opset 18"):
        extract_layers(model)


def test_opset_18_input_in_an_opset_17_model_is_refused(make_model):
    node = helper.make_node("ReduceMean", ["x", "axes"], ["y"], name="mean")
    with pytest.raises(ModelLoadError, match="ONNX Runtime would refuse"):
        extract_layers(make_model([node], {"x": (1, 4, 2, 2)}, {"axes": _ints(2, 3)}))
