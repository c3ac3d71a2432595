"""The kernel baseline (a linear work model per layer type, and per kernel op or shared group of ops for `other`)
and scoring a model trained on fewer features than its unit has now."""

from __future__ import annotations

import numpy as np
import pandas as pd
from catboost import CatBoostRegressor, Pool

from estimator.predict.models import BASELINE_FLOOR_MS, LayerModels, baseline_log_ms, predict_features
from estimator.predict.profiles import load_profile
from estimator.predict.units import KERNELS
from estimator.train.fitting import MIN_GROUP_ROWS, fit_baseline


def _elementwise(op: str, ns_per_element: float, call_us: float, rows: int) -> tuple[pd.DataFrame, np.ndarray]:
    elements = np.linspace(1e3, 1e6, rows)
    features = pd.DataFrame({"macs": 0.0, "input_elements": elements, "output_elements": elements, "kernel_op": op})
    return features, elements * ns_per_element * 1e-6 + call_us * 1e-3


def test_each_kernel_op_with_enough_rows_gets_its_own_work_model():
    parts = [_elementwise("Gelu", 0.63, 2.5, 200), _elementwise("Relu", 0.08, 2.0, 200),
             _elementwise("Rare", 5.0, 9.0, MIN_GROUP_ROWS - 1), _elementwise("MatMul", 0.3, 3.0, 200)]
    features = pd.concat([p[0] for p in parts], ignore_index=True)
    features.loc[features["kernel_op"] == "MatMul", "macs"] = 1e6  # a product keeps the shared work model
    runtime_ms = np.concatenate([p[1] for p in parts])
    baseline = fit_baseline(features, runtime_ms, by="kernel_op")
    assert baseline["by"] == "kernel_op" and set(baseline["groups"]) == {"Gelu", "Relu"}
    predicted = np.exp(baseline_log_ms(baseline, features))
    gelu, relu = (features["kernel_op"] == "Gelu").to_numpy(), (features["kernel_op"] == "Relu").to_numpy()
    np.testing.assert_allclose(predicted[gelu], runtime_ms[gelu], rtol=1e-3)
    np.testing.assert_allclose(predicted[relu], runtime_ms[relu], rtol=1e-3)
    unseen = features.iloc[:3].assign(kernel_op="Softsign")  # no group of its own: the layer type's coefficients
    shared = {"columns": baseline["columns"], "coefficients": baseline["coefficients"]}
    np.testing.assert_allclose(baseline_log_ms(baseline, unseen), baseline_log_ms(shared, unseen))


def test_shared_ops_are_fitted_as_one_group_and_scored_through_it():
    # Add has too few rows of its own; with Mul it has a group, and an Add is scored at Mul's cost per element.
    parts = [_elementwise("Mul", 0.05, 2.0, 200), _elementwise("Add", 0.05, 2.0, MIN_GROUP_ROWS - 20),
             _elementwise("Gelu", 0.63, 2.5, 200)]
    features = pd.concat([p[0] for p in parts], ignore_index=True)
    runtime_ms = np.concatenate([p[1] for p in parts])
    alone = fit_baseline(features, runtime_ms, by="kernel_op")
    baseline = fit_baseline(features, runtime_ms, by="kernel_op", shared={"Add": "Add|Mul", "Mul": "Add|Mul"})
    assert set(alone["groups"]) == {"Gelu", "Mul"} and set(baseline["groups"]) == {"Gelu", "Add|Mul"}
    add = (features["kernel_op"] == "Add").to_numpy()
    np.testing.assert_allclose(np.exp(baseline_log_ms(baseline, features))[add], runtime_ms[add], rtol=1e-3)
    assert not np.allclose(np.exp(baseline_log_ms(alone, features))[add], runtime_ms[add], rtol=0.05)


def test_an_op_without_a_group_of_its_own_takes_its_class_work_model():
    # Erf has too few rows (a held-out family's op); Gelu and Sigmoid, the same kind of loop, have enough: Erf is
    # costed from their class's fit, not from the layer type's fit over every op (here mostly cheap Relus).
    parts = [_elementwise("Gelu", 0.6, 2.5, 200), _elementwise("Sigmoid", 0.6, 2.5, 200),
             _elementwise("Relu", 0.05, 2.0, 600), _elementwise("Erf", 0.6, 2.5, MIN_GROUP_ROWS - 10)]
    frame = pd.concat([p[0] for p in parts], ignore_index=True).assign(op_type=lambda f: f["kernel_op"], batch_size=1)
    features = KERNELS.featurize(frame, "other")
    runtime_ms = np.concatenate([p[1] for p in parts])
    baseline = fit_baseline(features, runtime_ms, by="kernel_op", fallback_by="op_class")
    assert set(baseline["groups"]) == {"Gelu", "Sigmoid", "Relu"}
    assert set(baseline["fallback_groups"]) == {"transcendental", "simple unary"}
    erf = (features["kernel_op"] == "Erf").to_numpy()
    np.testing.assert_allclose(np.exp(baseline_log_ms(baseline, features))[erf], runtime_ms[erf], rtol=1e-3)
    without = {key: value for key, value in baseline.items() if not key.startswith("fallback")}
    assert not np.allclose(np.exp(baseline_log_ms(without, features))[erf], runtime_ms[erf], rtol=0.2)
    unclassed = features[erf].assign(kernel_op="NewOp", op_class="unclassed")  # no class fit: the type's own
    np.testing.assert_allclose(baseline_log_ms(baseline, unclassed), baseline_log_ms(without, unclassed))


def test_strided_and_interpolated_elements_are_charged_apart_by_one_ops_work_model():
    # One Softmax group: over the last axis ~0.5 ns an element, over another axis (inner_elements > 1) ~7 ns, as ONNX
    # Runtime transposes it there and back; one Resize group: linear ~0.45 ns an output element, nearest ~0.15.
    softmax_last, last_ms = _elementwise("Softmax", 0.5, 2.0, 100)
    softmax_axis, axis_ms = _elementwise("Softmax", 7.0, 2.0, 100)
    nearest, nearest_ms = _elementwise("Resize", 0.15, 3.0, 100)
    linear, linear_ms = _elementwise("Resize", 0.45, 3.0, 100)
    frame = pd.concat([softmax_last.assign(inner_elements=1.0), softmax_axis.assign(inner_elements=64.0),
                       nearest.assign(inner_elements=np.nan, resize_mode="nearest"),
                       linear.assign(inner_elements=np.nan, resize_mode="linear")], ignore_index=True)
    features = KERNELS.featurize(frame.assign(op_type=frame["kernel_op"], batch_size=1), "other")
    np.testing.assert_array_equal(features["strided_elements"], np.r_[np.zeros(100), softmax_axis["input_elements"],
                                                                      np.zeros(200)])
    np.testing.assert_array_equal(features["interpolated_elements"], np.r_[np.zeros(300), linear["output_elements"]])
    runtime_ms = np.concatenate([last_ms, axis_ms, nearest_ms, linear_ms])
    baseline = fit_baseline(features, runtime_ms, by="kernel_op")
    assert {"strided_elements", "interpolated_elements"} <= set(baseline["columns"])
    assert set(baseline["groups"]) == {"Softmax", "Resize"}
    np.testing.assert_allclose(np.exp(baseline_log_ms(baseline, features)), runtime_ms, rtol=1e-3)


def test_a_class_split_after_a_profile_was_fitted_takes_its_parents_work_model():
    # A profile fitted when ReduceL2 was a "reduction" has coefficients for that class only: its ReduceL2 rows, now
    # of the "generic reduction" class, keep being costed from the reductions' fit, not the layer type's.
    parts = [_elementwise("ReduceMean", 0.3, 2.5, 200), _elementwise("Relu", 0.05, 2.0, 600),
             _elementwise("ReduceL2", 0.3, 2.5, MIN_GROUP_ROWS - 10)]
    frame = pd.concat([p[0] for p in parts], ignore_index=True).assign(op_type=lambda f: f["kernel_op"], batch_size=1)
    features = KERNELS.featurize(frame, "other")
    runtime_ms = np.concatenate([p[1] for p in parts])
    old = features.assign(op_class=features["op_class"].replace({"generic reduction": "reduction"}))
    baseline = fit_baseline(old, runtime_ms, by="kernel_op", fallback_by="op_class")
    assert "reduction" in baseline["fallback_groups"] and "generic reduction" not in baseline["fallback_groups"]
    l2 = (features["kernel_op"] == "ReduceL2").to_numpy()
    assert set(features.loc[l2, "op_class"]) == {"generic reduction"}
    np.testing.assert_allclose(baseline_log_ms(baseline, features)[l2], baseline_log_ms(baseline, old)[l2])
    np.testing.assert_allclose(np.exp(baseline_log_ms(baseline, features))[l2], runtime_ms[l2], rtol=1e-3)


def test_products_grouped_by_several_columns_keep_the_shared_fit_where_a_group_is_too_small():
    # NCHWc Conv and NCHW FusedConv are both products, at different costs per MAC; a few 3-D convolutions have no
    # group of their own (too few rows) and keep the layer type's coefficients.
    parts = [_elementwise("Conv", 0.02, 3.0, 200), _elementwise("FusedConv", 0.2, 3.0, 200),
             _elementwise("Conv", 0.05, 3.0, MIN_GROUP_ROWS - 10)]
    features = pd.concat([p[0] for p in parts], ignore_index=True)
    features["macs"] = features["input_elements"] * 9
    features["spatial_rank"] = [2.0] * 400 + [3.0] * (MIN_GROUP_ROWS - 10)
    runtime_ms = np.concatenate([p[1] for p in parts])
    assert not fit_baseline(features, runtime_ms, by="kernel_op")["groups"]  # products keep the shared fit
    baseline = fit_baseline(features, runtime_ms, by=("kernel_op", "spatial_rank"), products_grouped=True)
    assert baseline["by"] == ["kernel_op", "spatial_rank"] and set(baseline["groups"]) == {"Conv|2", "FusedConv|2"}
    two_d = (features["spatial_rank"] == 2).to_numpy()
    predicted = np.exp(baseline_log_ms(baseline, features))
    np.testing.assert_allclose(predicted[two_d], runtime_ms[two_d], rtol=1e-3)
    shared = {"columns": baseline["columns"], "coefficients": baseline["coefficients"]}
    np.testing.assert_allclose(predicted[~two_d], np.exp(baseline_log_ms(shared, features[~two_d])))


def test_a_shipped_profile_keeps_its_shared_and_several_column_groups_when_loaded():
    baselines = load_profile("amd-epyc-f25m17-avx512-t1").models.baselines
    other, convolutional = baselines["other"], baselines["convolutional"]
    assert {"Add", "Sub", "Mul", "Div", "Greater"} <= set(other["shared"])
    group = other["shared"]["Sub"]
    features = pd.DataFrame({column: [1e5, 2e5] for column in other["columns"]}).assign(
        kernel_op=["Sub", "Div"], op_class="binary elementwise")
    design = np.column_stack([features[c].to_numpy(float) for c in other["columns"]] + [np.ones(2)])
    expected = np.log(np.maximum(design @ np.asarray(other["groups"][group]), BASELINE_FLOOR_MS))
    np.testing.assert_allclose(baseline_log_ms(other, features), expected)
    assert other["fallback_by"] == "op_class" and "transcendental" in other["fallback_groups"]
    rare = features.assign(kernel_op="Softsign", op_class="transcendental")  # no group of its own: its class's
    expected = np.log(np.maximum(design @ np.asarray(other["fallback_groups"]["transcendental"]), BASELINE_FLOOR_MS))
    np.testing.assert_allclose(baseline_log_ms(other, rare), expected)
    assert convolutional["by"] == ["kernel_op", "spatial_rank"]
    assert {"Conv|2", "FusedConv|2"} <= set(convolutional["groups"])


def test_a_model_trained_before_a_feature_was_added_scores_its_own_columns():
    rows = 40
    frame = pd.DataFrame({"batch_size": 1, "op_type": "Add", "kernel_op": "Add", "input_elements": np.arange(rows) * 10.0,
                          "output_elements": np.arange(rows) * 5.0, "num_inputs": 2, "layout": "nchw"})
    features = KERNELS.featurize(frame, "other")
    old_columns = [c for c in features.columns if c != "elements_per_sample"]  # as if the unit had one feature less
    old = CatBoostRegressor(iterations=5, verbose=False, allow_writing_files=False)
    categorical = [c for c in KERNELS.categorical["other"] if c in old_columns]
    old.fit(Pool(features[old_columns], np.log(1e-3 + frame["output_elements"].to_numpy() * 1e-6),
                 cat_features=categorical))
    scored = predict_features(LayerModels(runtime={"other": old}, unit=KERNELS), features, "other")
    expected = np.exp(old.predict(Pool(features[old_columns], cat_features=categorical)))
    np.testing.assert_allclose(scored["runtime_ms"].to_numpy(), expected)
