"""Models that stress the loader: very long graphs and weight payloads outside the graph's initializers.

scripts/bench.py gives each a memory and time budget; tests build small versions of them.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

__all__ = ["PAYLOAD_PLACES", "long_chain", "payload_model"]

FLOAT = onnx.TensorProto.FLOAT
INT64 = onnx.TensorProto.INT64
# Where a payload can hide: each is read in full by a naive loader.
PAYLOAD_PLACES = ("initializer", "constant", "constant_of_shape", "loop_body", "sparse_initializer",
                  "sparse_constant", "sparse_claim")


def long_chain(length: int, op: str = "Relu") -> onnx.ModelProto:
    """x -> op -> op -> ... (`length` nodes) on an 8x8 tensor (1x8 for Relu): a large graph of tiny nodes.
    A binary op (Mul, MatMul, ...) reads the previous tensor twice."""
    binary = op != "Relu"
    nodes = []
    for index in range(length):
        previous = "x" if index == 0 else f"t{index - 1}"
        nodes.append(helper.make_node(op, [previous, previous] if binary else [previous], [f"t{index}"],
                                      name=f"n{index}"))
    graph = helper.make_graph(nodes, "long_chain", [helper.make_tensor_value_info("x", FLOAT, [8, 8] if binary else [1, 8])],
                              [helper.make_tensor_value_info(f"t{length - 1}", FLOAT, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _payload(name: str, count: int) -> onnx.TensorProto:
    """A float32 tensor of `count` zeros, stored inline (raw_data)."""
    return helper.make_tensor(name, FLOAT, [count], np.zeros(count, np.float32).tobytes(), raw=True)


def _sparse(name: str, dense_count: int, stored: int) -> onnx.SparseTensorProto:
    """A sparse 1-D tensor of `dense_count` elements of which `stored` are stored."""
    values = _payload(name, stored)
    indices = helper.make_tensor(f"{name}_indices", INT64, [stored], np.arange(stored, dtype=np.int64).tobytes(),
                                 raw=True)
    return helper.make_sparse_tensor(values, indices, [dense_count])


def payload_model(place: str, payload_bytes: int) -> onnx.ModelProto:
    """Add(x, w) with a float32 weight `w` of `payload_bytes` that lives in `place` (PAYLOAD_PLACES).

    "sparse_claim" stores 16 values of a sparse Constant that claims `payload_bytes` when densified.
    """
    count = max(1, payload_bytes // 4)
    nodes: list[onnx.NodeProto] = []
    initializers: list[onnx.TensorProto] = []
    sparse: list[onnx.SparseTensorProto] = []
    if place == "initializer":
        initializers.append(_payload("w", count))
    elif place == "constant":
        nodes.append(helper.make_node("Constant", [], ["w"], value=_payload("value", count), name="weights"))
    elif place == "constant_of_shape":
        shape = helper.make_tensor("shape", INT64, [1], [count])
        nodes.append(helper.make_node("Constant", [], ["shape"], value=shape, name="shape"))
        nodes.append(helper.make_node("ConstantOfShape", ["shape"], ["w"], value=_payload("fill", count), name="fill"))
    elif place == "loop_body":
        boolean = onnx.TensorProto.BOOL
        body = helper.make_graph(
            [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Add", ["v_in", "inner"], ["v_out"])],
            "body", [helper.make_tensor_value_info("i", INT64, []), helper.make_tensor_value_info("cond_in", boolean, []),
                     helper.make_tensor_value_info("v_in", FLOAT, [count])],
            [helper.make_tensor_value_info("cond_out", boolean, []), helper.make_tensor_value_info("v_out", FLOAT, [count])],
            [_payload("inner", count)])
        trip = helper.make_tensor("trip", INT64, [], [1])
        nodes.append(helper.make_node("Constant", [], ["trip"], value=trip, name="trip"))
        nodes.append(helper.make_node("Loop", ["trip", "", "x"], ["w"], body=body, name="loop"))
    elif place == "sparse_initializer":
        sparse.append(_sparse("w", count, payload_bytes // 12))  # 4-byte values + 8-byte indices
    elif place in ("sparse_constant", "sparse_claim"):
        stored = payload_bytes // 12 if place == "sparse_constant" else 16
        nodes.append(helper.make_node("Constant", [], ["w"], sparse_value=_sparse("value", count, stored),
                                      name="weights"))
    else:
        raise ValueError(f"unknown payload place {place!r}; choose from {', '.join(PAYLOAD_PLACES)}")
    nodes.append(helper.make_node("Add", ["x", "w"], ["y"], name="add"))
    graph = helper.make_graph(nodes, f"payload_{place}", [helper.make_tensor_value_info("x", FLOAT, [count])],
                              [helper.make_tensor_value_info("y", FLOAT, None)], initializers,
                              sparse_initializer=sparse)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
