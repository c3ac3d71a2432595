"""Loading training data: rows written before broadcast_spans or inner_elements was a column get it from their shapes
and attributes as text, as extraction gives it to a row written now."""

from __future__ import annotations

import numpy as np
from onnx import helper

from estimator.train.data import load_training_data
from graph import extract_layers, layers_to_frame


def test_rows_collected_before_broadcast_spans_existed_get_it_from_their_text(make_model, tmp_path):
    nodes = [helper.make_node("Mul", ["x", "s"], ["m"], name="scale"),
             helper.make_node("Transpose", ["m"], ["t"], name="shuffle", perm=[0, 2, 1, 3, 4]),
             helper.make_node("Add", ["t", "b"], ["y"], name="shift")]
    model = make_model(nodes, {"x": (2, 2, 8, 7, 7), "s": (1, 2, 1, 1, 1), "b": (7,)})
    written = layers_to_frame(extract_layers(model).layers, "other")
    # a per-channel scale: N x C runs; a vector over the last axis: runs of 7; a Transpose has none
    np.testing.assert_array_equal(written["broadcast_spans"].to_numpy(float), [4, np.nan, 224])
    old = written.drop(columns=["broadcast_spans"]).assign(runtime=0.01, power=np.nan)
    (tmp_path / "chain").mkdir()
    old.to_csv(tmp_path / "chain" / "other.csv", index=False)
    loaded = load_training_data(tmp_path).frames["other"]
    np.testing.assert_array_equal(loaded["broadcast_spans"].to_numpy(float), written["broadcast_spans"].to_numpy(float))


def test_rows_collected_before_inner_elements_existed_get_it_from_their_text(make_model, tmp_path):
    nodes = [helper.make_node("Softmax", ["x"], ["s"], name="bins", axis=1),
             helper.make_node("Transpose", ["s"], ["t"], name="swap", perm=[0, 2, 1, 3]),
             helper.make_node("ReduceL2", ["t"], ["y"], name="norm", axes=[1], keepdims=1)]
    written = layers_to_frame(extract_layers(make_model(nodes, {"x": (2, 16, 4, 9)})).layers, "other")
    np.testing.assert_array_equal(written["inner_elements"].to_numpy(float), [36, 9, 144])
    old = written.drop(columns=["inner_elements"]).assign(runtime=0.01, power=np.nan)
    (tmp_path / "chain").mkdir()
    old.to_csv(tmp_path / "chain" / "other.csv", index=False)
    loaded = load_training_data(tmp_path).frames["other"]
    np.testing.assert_array_equal(loaded["inner_elements"].to_numpy(float), written["inner_elements"].to_numpy(float))
