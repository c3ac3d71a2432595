"""The op classes an `other` kernel's cost falls back to (estimator.predict.op_classes)."""

from __future__ import annotations

import pandas as pd

from estimator.predict.op_classes import CLASS_OPS, OP_CLASSES, UNCLASSED
from estimator.predict.units import KERNELS
from graph.frames import BROADCASTING


def test_every_op_has_one_class():
    listed = [op for ops in CLASS_OPS.values() for op in ops]
    assert len(listed) == len(set(listed)) == len(OP_CLASSES)


def test_every_broadcasting_op_is_classed_and_the_class_reaches_the_features():
    assert all(OP_CLASSES.get(op, UNCLASSED) != UNCLASSED for op in BROADCASTING)
    frame = pd.DataFrame({"batch_size": 1, "op_type": ["Add", "Erf", "Gelu", "NewOp"],
                          "kernel_op": ["Add", "Erf", None, "NewOp"], "input_elements": 10.0, "output_elements": 10.0,
                          "num_inputs": 1})
    features = KERNELS.featurize(frame, "other")
    assert features["op_class"].tolist() == ["binary elementwise", "transcendental", "transcendental", UNCLASSED]
