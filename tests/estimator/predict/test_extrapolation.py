"""Past the largest kernel a profile was trained on, its regressor may make a kernel faster than the linear work
model (the baseline), never slower: the fixed costs that make small kernels slow do not grow with the work."""

from __future__ import annotations

import dataclasses

import numpy as np
import onnx
import pandas as pd
import pytest

from estimator.predict.extraction import ExtractionSettings, ModelJob, prepare
from estimator.predict.models import baseline_log_ms, predict_features
from estimator.predict.profiles import load_profile

PROFILE = "amd-epyc-f23m49-avx2-t1"  # a shipped kernel profile, trained on attention up to 128 tokens


def _attention_scores(path, tokens: int) -> None:
    """Q.K^T of 8 heads of 64 over `tokens` tokens."""
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("MatMul", ["q", "k"], ["scores"])], "scores",
        [onnx.helper.make_tensor_value_info("q", onnx.TensorProto.FLOAT, [1, 8, tokens, 64]),
         onnx.helper.make_tensor_value_info("k", onnx.TensorProto.FLOAT, [1, 8, 64, tokens])],
        [onnx.helper.make_tensor_value_info("scores", onnx.TensorProto.FLOAT, [1, 8, tokens, tokens])])
    onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)]), path)


def _frame(profile, path) -> pd.DataFrame:
    prepared = prepare(ModelJob(path), ExtractionSettings(profile.unit.name, profile.rules, None))
    return pd.DataFrame(prepared.features["other"])


@pytest.mark.parametrize(("tokens", "beyond"), [(64, False), (2048, True)])
def test_the_regressor_never_slows_a_kernel_beyond_the_training_range(tokens, beyond, tmp_path):
    profile = load_profile(PROFILE)
    path = tmp_path / f"scores_{tokens}.onnx"
    _attention_scores(path, tokens)
    frame = _frame(profile, path)
    features = profile.unit.featurize(frame, "other")
    largest = profile.manifest["feature_ranges"]["other"]["numeric"]["macs"][1]
    assert (features["macs"].to_numpy() > largest).tolist() == [beyond]
    free = predict_features(profile.models, features, "other")["runtime_ms"].to_numpy()
    predicted = profile.predict(frame, "other")["runtime_ms"].to_numpy()  # what estimate() scores with
    baseline_ms = np.exp(baseline_log_ms(profile.models.baselines["other"], features))
    if beyond:
        assert free[0] > baseline_ms[0]  # this profile's trees would keep the small kernels' slowness past the range
        assert predicted[0] == pytest.approx(baseline_ms[0], rel=1e-9)
    else:
        assert predicted[0] == free[0]


def test_convolutions_keep_their_residual_beyond_the_training_range(tmp_path):
    """A convolution's residual over the baseline is the work model's slope, which holds past the largest trained
    kernel (capping it made VGG-11's convolutions at batch 16, held out, 42% fast)."""
    profile = load_profile("amd-epyc-f23m49-avx2-t2")  # its trees put large convolutions 1.4x above the baseline
    weight = onnx.numpy_helper.from_array(np.zeros((512, 512, 3, 3), dtype=np.float32), "w")
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])], "big_conv",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["batch", 512, 28, 28])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["batch", 512, 28, 28])], [weight])
    path = tmp_path / "big_conv.onnx"
    onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)]), path)
    prepared = prepare(ModelJob(path, batch_size=64), ExtractionSettings(profile.unit.name, profile.rules, None))
    frame = pd.DataFrame(prepared.features["convolutional"])
    features = profile.unit.featurize(frame, "convolutional")
    largest = profile.manifest["feature_ranges"]["convolutional"]["numeric"]["macs"][1]
    assert (features["macs"].to_numpy() > largest).all()
    free = predict_features(profile.models, features, "convolutional")["runtime_ms"].to_numpy()
    baseline_ms = np.exp(baseline_log_ms(profile.models.baselines["convolutional"], features))
    assert (free > baseline_ms).all()  # slower than the work model: a cap would pull it down
    np.testing.assert_array_equal(profile.predict(frame, "convolutional")["runtime_ms"].to_numpy(), free)


@pytest.mark.parametrize(("class_largest_tokens", "capped"), [(128, True), (384, False)])
def test_a_kernel_is_beyond_the_largest_trained_kernel_of_its_op_class(class_largest_tokens, capped, tmp_path):
    """A MatMul of 384 tokens (75 M MACs) is within the MACs of the layer type's largest trained kernel, but past the
    largest trained MatMul when that was of 128 tokens: capped there."""
    shipped = load_profile("amd-epyc-f25m17-avx512-t1")  # trained on `other` kernels up to 1,074 M MACs
    for tokens in (384, class_largest_tokens):
        _attention_scores(tmp_path / f"scores_{tokens}.onnx", tokens)
    class_largest = float(shipped.unit.featurize(
        _frame(shipped, tmp_path / f"scores_{class_largest_tokens}.onnx"), "other")["macs"].iloc[0])

    def with_class_maxima(maxima: dict | None):
        ranges = {key: value for key, value in shipped.manifest["feature_ranges"]["other"].items()
                  if key != "largest_macs_by_class"}
        if maxima is not None:
            ranges["largest_macs_by_class"] = maxima
        return dataclasses.replace(shipped, manifest={
            **shipped.manifest, "feature_ranges": {**shipped.manifest["feature_ranges"], "other": ranges}})

    profile = with_class_maxima({"matrix product": class_largest, "recurrent": 75497472.0})
    frame = _frame(profile, tmp_path / "scores_384.onnx")
    features = profile.unit.featurize(frame, "other")
    assert features["op_class"].tolist() == ["matrix product"] and class_largest <= features["macs"].iloc[0]
    assert features["macs"].iloc[0] < profile.manifest["feature_ranges"]["other"]["numeric"]["macs"][1]
    free = predict_features(profile.models, features, "other")["runtime_ms"].to_numpy()
    baseline_ms = np.exp(baseline_log_ms(profile.models.baselines["other"], features))
    assert free[0] > 1.05 * baseline_ms[0]  # its trees put this MatMul above the work model
    expected = baseline_ms[0] if capped else free[0]
    assert profile.predict(frame, "other")["runtime_ms"].iloc[0] == pytest.approx(expected, rel=1e-9)
    # without class maxima, only the layer type's largest counts: as before
    assert with_class_maxima(None).predict(frame, "other")["runtime_ms"].iloc[0] == free[0]
