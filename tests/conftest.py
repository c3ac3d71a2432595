"""Shared pytest fixtures."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

# --------------------------------------------------------------------------- graph/ fixtures

_ELEM_TYPES = {
    "float32": onnx.TensorProto.FLOAT,
    "float16": onnx.TensorProto.FLOAT16,
    "int64": onnx.TensorProto.INT64,
    "uint8": onnx.TensorProto.UINT8,
}


def _value_info(name: str, spec) -> onnx.ValueInfoProto:
    """`spec` is a shape (ints, or strings for symbolic dims) or a (shape, dtype name) pair."""
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], str) and spec[1] in _ELEM_TYPES:
        shape, dtype = spec
    else:
        shape, dtype = spec, "float32"
    return helper.make_tensor_value_info(name, _ELEM_TYPES[dtype], None if shape is None else list(shape))


def _make_model(
    nodes,
    inputs,
    initializers=None,
    outputs=None,
    opset: int = 17,
    ir_version: int | None = None,
    extra_opsets=None,
    name: str = "test_graph",
) -> onnx.ModelProto:
    """A small ONNX model from nodes, {input name: shape}, and {initializer name: array}.

    Graph outputs are the last node's outputs, with the element type that ONNX infers for them
    and no shape, unless `outputs` ({name: shape}) says otherwise.
    """
    initializer_protos = [numpy_helper.from_array(np.asarray(v), k) for k, v in (initializers or {}).items()]
    input_infos = [_value_info(key, spec) for key, spec in inputs.items()]
    if outputs is None:
        output_infos = [onnx.ValueInfoProto(name=out) for out in nodes[-1].output if out]
    else:
        output_infos = [_value_info(key, spec) for key, spec in outputs.items()]
    graph = helper.make_graph(list(nodes), name, input_infos, output_infos, initializer_protos)
    opsets = [helper.make_opsetid("", opset), *(helper.make_opsetid(d, v) for d, v in (extra_opsets or {}).items())]
    model = helper.make_model(graph, opset_imports=opsets)
    if ir_version is not None:
        model.ir_version = ir_version
    if outputs is None:
        _type_outputs(model)
    return model


def _type_outputs(model: onnx.ModelProto) -> None:
    """Give untyped graph outputs the element type that shape inference finds."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # an intentionally broken fixture: leave its outputs untyped
        return
    known = {value.name: value.type.tensor_type.elem_type for value in inferred.graph.value_info}
    known.update({value.name: value.type.tensor_type.elem_type for value in inferred.graph.output})
    for output in model.graph.output:
        elem_type = known.get(output.name, onnx.TensorProto.UNDEFINED)
        if elem_type != onnx.TensorProto.UNDEFINED:
            output.CopyFrom(helper.make_tensor_value_info(output.name, elem_type, None))


@pytest.fixture(scope="session")
def make_model():
    """Build a small ONNX model: make_model(nodes, {input: shape}, {initializer: array}, opset=17, ...)."""
    return _make_model


@pytest.fixture(scope="session")
def weights():
    """Deterministic random float32 arrays: weights(shape) or weights(shape, dtype='float16')."""
    rng = np.random.default_rng(0)

    def make(shape, dtype="float32"):
        return rng.standard_normal(shape).astype(dtype)

    return make


@pytest.fixture(autouse=True)
def _own_user_folder(tmp_path_factory, monkeypatch):
    """Every test sees an empty user data folder (no profile calibrated on the developer's machine) and never
    triggers a first-use calibration."""
    from estimator.cli import AUTO_CALIBRATE_VARIABLE
    from estimator.predict.userdata import HOME_VARIABLE

    monkeypatch.setenv(HOME_VARIABLE, str(tmp_path_factory.mktemp("user-data")))
    monkeypatch.setenv(AUTO_CALIBRATE_VARIABLE, "0")
