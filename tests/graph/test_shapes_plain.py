"""graph/shapes_plain.py's rules give ONNX's own per-node answer, and leave to ONNX what they do not cover exactly."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

import graph.shapes
from graph import load_model
from graph.inputs import fix_input_shapes
from graph.schemas import op_schema
from graph.shapes_plain import PLAIN_RULES
from graph.views import node_views
from tests.paths import MODERN

F, I64 = onnx.TensorProto.FLOAT, onnx.TensorProto.INT64
OPSET = 17


def _onnx_answer(node: onnx.NodeProto, inputs, values) -> list[tuple[int, tuple[int, ...]]] | None:
    """ONNX's per-node inference of `node` (None: it refuses the node)."""
    types = {name: helper.make_tensor_type_proto(elem_type, dims)
             for name, (elem_type, dims) in zip(node.input, inputs, strict=True) if name}
    data = {name: numpy_helper.from_array(value, name)
            for name, value in zip(node.input, values, strict=True) if value is not None}
    try:
        found = onnx.shape_inference.infer_node_outputs(op_schema(node.op_type, OPSET), node, types, data,
                                                        opset_imports=[helper.make_opsetid("", OPSET)])
    except Exception:
        return None
    answer = []
    for name in node.output:
        tensor_type = found[name].tensor_type
        answer.append((tensor_type.elem_type, tuple(d.dim_value for d in tensor_type.shape.dim)))
    return answer


def _rule_answer(node: onnx.NodeProto, inputs, values):
    (view,) = node_views(helper.make_graph([node], "g", [], []))
    return PLAIN_RULES[node.op_type](view, inputs, values)


def _node(op_type: str, count: int, **attributes) -> onnx.NodeProto:
    return helper.make_node(op_type, [f"x{i}" for i in range(count)], ["y"], **attributes)


CASES = [
    (_node("Relu", 1), [(F, (2, 3))], [None]),
    (_node("Add", 2), [(F, (2, 3, 4)), (F, (3, 1))], [None, None]),
    (_node("Mul", 2), [(F, (1, 8, 1, 1)), (F, (4, 8, 5, 5))], [None, None]),
    (_node("Div", 2), [(F, (2, 3)), (F, ())], [None, None]),
    (_node("Greater", 2), [(F, (5, 1)), (F, (1, 6))], [None, None]),
    (_node("Transpose", 1, perm=[0, 2, 3, 1]), [(F, (1, 8, 5, 7))], [None]),
    (_node("Transpose", 1), [(F, (2, 3, 4))], [None]),
    (_node("MatMul", 2), [(F, (2, 1, 7, 16)), (F, (3, 16, 5))], [None, None]),
    (_node("Concat", 3, axis=-1), [(F, (2, 3)), (F, (2, 5)), (F, (2, 1))], [None, None, None]),
    (_node("Shape", 1, start=1, end=-1), [(F, (2, 3, 4, 5))], [None]),
    (_node("Conv", 2, pads=[1, 1, 1, 1], strides=[2, 2]), [(F, (1, 8, 15, 16)), (F, (4, 8, 3, 3))], [None, None]),
    (_node("Conv", 3, group=4, dilations=[2, 1], pads=[0, 2, 1, 0]),
     [(F, (2, 8, 20, 9)), (F, (12, 2, 3, 5)), (F, (12,))], [None, None, None]),
    (_node("Conv", 2, auto_pad="VALID", strides=[3]), [(F, (1, 4, 50)), (F, (6, 4, 7))], [None, None]),
    (_node("Reshape", 2), [(F, (2, 3, 4)), (I64, (3,))], [None, np.array([0, -1, 2], np.int64)]),
    (_node("Reshape", 2), [(F, (2, 12)), (I64, (2,))], [None, np.array([6, 4], np.int64)]),
]


@pytest.mark.parametrize(("node", "inputs", "values"), CASES, ids=[f"{c[0].op_type}-{i}" for i, c in enumerate(CASES)])
def test_a_rule_gives_onnx_s_answer(node, inputs, values):
    expected = _onnx_answer(node, inputs, values)
    assert expected is not None
    assert _rule_answer(node, inputs, values) == expected


REFUSED = [
    (_node("Add", 2), [(F, (2, 3)), (F, (4,))], [None, None]),  # does not broadcast
    (_node("Add", 2), [(F, (2, 3)), (I64, (2, 3))], [None, None]),  # mixed element types
    (_node("Transpose", 1, perm=[0, 0, 1]), [(F, (2, 3, 4))], [None]),  # not a permutation
    (_node("MatMul", 2), [(F, (2, 7, 16)), (F, (15, 5))], [None, None]),  # inner sizes differ
    (_node("Concat", 2, axis=0), [(F, (2, 3)), (F, (2, 4))], [None, None]),  # other axes differ
    (_node("Conv", 2), [(F, (1, 8, 15, 16)), (F, (4, 3, 3, 3))], [None, None]),  # channels do not fit
    (_node("Conv", 2, auto_pad="SAME_UPPER"), [(F, (1, 8, 15, 16)), (F, (4, 8, 3, 3))], [None, None]),  # ONNX's case
    (_node("Conv", 2), [(F, (1, 8, 2, 2)), (F, (4, 8, 3, 3))], [None, None]),  # kernel larger than the input
    (_node("Reshape", 2), [(F, (2, 12)), (I64, (2,))], [None, np.array([5, -1], np.int64)]),  # 24 is not 5 x k
    (_node("Reshape", 2), [(F, (2, 12)), (I64, (2,))], [None, None]),  # the shape's value unknown
]


@pytest.mark.parametrize(("node", "inputs", "values"), REFUSED, ids=[f"{c[0].op_type}-{i}" for i, c in enumerate(REFUSED)])
def test_a_case_a_rule_does_not_cover_exactly_is_left_to_onnx(node, inputs, values):
    assert _rule_answer(node, inputs, values) is None


@pytest.mark.parametrize("name", ["bert_base_seq128.onnx", "ghostnetv2_100.onnx", "yolo11n.onnx"])
def test_exports_resolve_to_the_same_shapes_with_and_without_the_rules(name, monkeypatch):
    """Real exports whose shapes need the pass (a transformer, a ghost net, a detector): the rules change nothing."""
    with_rules = fix_input_shapes(load_model(MODERN / name))
    monkeypatch.setattr(graph.shapes, "PLAIN_RULES", {})
    without_rules = fix_input_shapes(load_model(MODERN / name))
    assert with_rules.types == without_rules.types
    assert with_rules.data_dependent == without_rules.data_dependent
