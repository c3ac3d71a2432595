"""The models mutants start from: the zoo, the test fixtures, generated networks and hostile shapes.

Every seed is a valid model the estimator reports on; mutations then break it in one or a few places.
"""

from __future__ import annotations

import functools

import numpy as np
import onnx
from onnx import helper, numpy_helper

from estimator.testing import small_cnn
from graph.generate import FAMILIES, generate
from graph.stress import PAYLOAD_PLACES, long_chain, payload_model
from tests.estimator_fixtures import huge_conv
from tests.paths import TEST_DATA, ZOO

__all__ = ["SMALL_SEEDS", "model_seeds"]

FLOAT, INT64 = onnx.TensorProto.FLOAT, onnx.TensorProto.INT64
# Seeds cheap enough for the short run in the test suite.
SMALL_SEEDS = ("small_cnn", "small_cnn_transpose", "lenet", "alexnet", "resnet18", "matmul_bias", "reduce_axes_input",
               "shape_arithmetic", "if_branches", "payload_constant", "payload_sparse_claim", "generated_transformer_mlp",
               "generated_inverted_residual")


@functools.cache
def model_seeds() -> dict[str, bytes]:
    """Seed name -> serialized model."""
    seeds: dict[str, onnx.ModelProto | bytes] = {
        "small_cnn": small_cnn(),
        "small_cnn_transpose": small_cnn(with_unmodeled=True),
        "huge_conv": huge_conv(),
        "matmul_bias": _matmul_bias(),
        "reduce_axes_input": _reduce_axes_input(),
        "shape_arithmetic": _shape_arithmetic(),
        "if_branches": _if_branches(),
        "long_chain": long_chain(3000),
    }
    for place in PAYLOAD_PLACES:
        seeds[f"payload_{place}"] = payload_model(place, 1 << 16 if place != "sparse_claim" else 1 << 33)
    for family in FAMILIES:
        seeds[f"generated_{family}"] = generate(family, 0).model
    for path in sorted(ZOO.glob("*.onnx")):
        seeds[path.stem] = path.read_bytes()
    seeds["resnet18_dynamo"] = (TEST_DATA / "resnet18_dynamo.onnx").read_bytes()
    return {name: model if isinstance(model, bytes) else model.SerializeToString() for name, model in seeds.items()}


def _model(nodes, inputs, initializers=(), opset: int = 18) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "seed", [helper.make_tensor_value_info(k, FLOAT, v) for k, v in inputs.items()],
                              [helper.make_tensor_value_info(nodes[-1].output[0], FLOAT, None)], list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _matmul_bias() -> onnx.ModelProto:
    """A Linear layer on N,T,C activations: MatMul by a constant weight, then a bias Add (absorbed)."""
    weight = onnx.TensorProto(name="w", data_type=FLOAT, dims=[64, 32])
    bias = numpy_helper.from_array(np.zeros(32, np.float32), "b")
    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"], name="linear"),
             helper.make_node("Add", ["m", "b"], ["a"], name="bias"),
             helper.make_node("Relu", ["a"], ["y"], name="relu")]
    return _model(nodes, {"x": ["N", 16, 64]}, [weight, bias])


def _reduce_axes_input() -> onnx.ModelProto:
    """Conv, then ReduceMean over H, W with its axes as an input (opset 18)."""
    weight = onnx.TensorProto(name="w", data_type=FLOAT, dims=[8, 3, 3, 3])
    axes = numpy_helper.from_array(np.array([2, 3], np.int64), "axes")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("ReduceMean", ["c", "axes"], ["y"], name="mean", keepdims=1)]
    return _model(nodes, {"x": [1, 3, 16, 16]}, [weight, axes])


def _shape_arithmetic() -> onnx.ModelProto:
    """Shape -> Gather -> Concat -> Reshape, the arithmetic that needs data propagation."""
    index = numpy_helper.from_array(np.array(0, np.int64), "zero")
    minus_one = numpy_helper.from_array(np.array([-1], np.int64), "minus_one")
    nodes = [helper.make_node("Shape", ["x"], ["s"], name="shape"),
             helper.make_node("Gather", ["s", "zero"], ["n"], name="batch", axis=0),
             helper.make_node("Unsqueeze", ["n", "zero_axis"], ["n1"], name="unsqueeze"),
             helper.make_node("Concat", ["n1", "minus_one"], ["target"], name="concat", axis=0),
             helper.make_node("Reshape", ["x", "target"], ["flat"], name="flatten"),
             helper.make_node("Relu", ["flat"], ["y"], name="relu")]
    zero_axis = numpy_helper.from_array(np.array([0], np.int64), "zero_axis")
    return _model(nodes, {"x": ["N", 3, 8, 8]}, [index, minus_one, zero_axis])


def _if_branches() -> onnx.ModelProto:
    """An If whose branches hold their own initializers (control flow: unmodeled, never read)."""
    def branch(name: str) -> onnx.GraphProto:
        inner = numpy_helper.from_array(np.ones(4, np.float32), f"{name}_c")
        return helper.make_graph([helper.make_node("Add", ["x", f"{name}_c"], [f"{name}_y"])], name, [],
                                 [helper.make_tensor_value_info(f"{name}_y", FLOAT, [1, 4])], [inner])
    condition = numpy_helper.from_array(np.array(True), "condition")
    nodes = [helper.make_node("If", ["condition"], ["i"], name="branch", then_branch=branch("then"),
                              else_branch=branch("else")),
             helper.make_node("Relu", ["i"], ["y"], name="relu")]
    return _model(nodes, {"x": [1, 4]}, [condition])
