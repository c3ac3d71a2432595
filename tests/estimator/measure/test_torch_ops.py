"""The PyTorch op table: builders registered per opset range and chosen through the ONNX operator schema."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import defs

from estimator.errors import MeasureError
from estimator.measure.backends.pytorch.ops import Spec, build, supported_ops
from estimator.measure.backends.pytorch.ops.registry import builder_for


@pytest.mark.parametrize(
    ("op_type", "old_opset", "new_opset"),
    [("Clip", 10, 11), ("Slice", 9, 10), ("Reshape", 4, 5), ("Pad", 10, 11), ("Split", 12, 13),
     ("Squeeze", 12, 13), ("Unsqueeze", 12, 13), ("Softmax", 12, 13), ("LogSoftmax", 12, 13),
     ("ReduceSum", 12, 13), ("ReduceMean", 17, 18), ("ReduceMax", 17, 18), ("TopK", 9, 10)],
)
def test_the_builder_changes_where_the_schema_changed_the_op(op_type, old_opset, new_opset):
    assert defs.get_schema(op_type, new_opset, "").since_version == new_opset
    old, new = builder_for(op_type, old_opset), builder_for(op_type, new_opset)
    assert old is not new
    assert builder_for(op_type, 1) is old and builder_for(op_type, defs.onnx_opset_version()) is new


def test_an_op_with_one_builder_uses_it_at_every_opset():
    assert builder_for("Relu", 6) is builder_for("Relu", 14) is builder_for("Relu", defs.onnx_opset_version())


def test_every_registered_op_is_an_onnx_op():
    assert all(defs.has(op_type) for op_type in supported_ops())
    assert {"Conv", "MaxPool", "Gemm", "Relu", "Clip", "LayerNormalization", "Resize"} <= supported_ops()


def test_an_op_outside_the_table_is_a_measure_error():
    assert builder_for("NonMaxSuppression", 17) is None
    with pytest.raises(MeasureError, match="op NonMaxSuppression is not supported by the PyTorch backend"):
        build(Spec("NonMaxSuppression", {}, [(1, 4)], {}, 17))


def test_opset_dependent_builders_compute_their_own_semantics():
    torch = pytest.importorskip("torch")
    x = torch.linspace(-8.0, 8.0, 12).reshape(3, 4)
    clip_6 = build(Spec("Clip", {"min": -1.0, "max": 2.0}, [(3, 4)], {}, 6))
    clip_13 = build(Spec("Clip", {}, [(3, 4), (), ()], {1: np.array(-1.0), 2: np.array(2.0)}, 13))
    assert torch.equal(clip_6(x), clip_13(x, None, None)) and float(clip_6(x).max()) == 2.0
    softmax_12 = build(Spec("Softmax", {"axis": 1}, [(2, 3, 4)], {}, 12))  # coerced to 2-D: over 3 x 4 values
    softmax_13 = build(Spec("Softmax", {"axis": 1}, [(2, 3, 4)], {}, 13))  # along axis 1 only
    y = torch.rand(2, 3, 4)
    assert float(softmax_12(y).sum()) == pytest.approx(2.0) and float(softmax_13(y).sum()) == pytest.approx(8.0)
    mean_17 = build(Spec("ReduceMean", {"axes": (2, 3), "keepdims": 1}, [(1, 2, 3, 3)], {}, 17))
    mean_18 = build(Spec("ReduceMean", {"keepdims": 1}, [(1, 2, 3, 3), (2,)], {1: np.array([2, 3])}, 18))
    z = torch.rand(1, 2, 3, 3)
    assert torch.allclose(mean_17(z), mean_18(z)) and tuple(mean_18(z).shape) == (1, 2, 1, 1)


def test_pool_pads_and_output_sizes_come_from_graphs_window_arithmetic():
    torch = pytest.importorskip("torch")
    pool = build(Spec("MaxPool", {"kernel_shape": (3, 3), "strides": (2, 2), "auto_pad": "SAME_UPPER"},
                      [(1, 1, 7, 6)], {}, 17))
    assert tuple(pool(torch.rand(1, 1, 7, 6)).shape) == (1, 1, 4, 3)
    with pytest.raises(MeasureError, match="kernel 5 \\(dilated\\) is larger than the padded input 4"):
        build(Spec("MaxPool", {"kernel_shape": (5, 1)}, [(1, 1, 4, 4)], {}, 17))
