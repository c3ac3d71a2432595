"""Past the largest kernel a profile was trained on, its regressor may make a kernel faster than the linear work
model (the baseline), never slower: the fixed costs that make small kernels slow do not grow with the work."""

from __future__ import annotations

import numpy as np
import onnx
import pandas as pd
import pytest

from estimator.predict.extraction import ExtractionSettings, ModelJob, prepare
from estimator.predict.features import featurize
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
    prepared = prepare(ModelJob(path), ExtractionSettings(profile.unit, profile.rules, None))
    return pd.DataFrame(prepared.features["other"])


@pytest.mark.parametrize(("tokens", "beyond"), [(64, False), (2048, True)])
def test_the_regressor_never_slows_a_kernel_beyond_the_training_range(tokens, beyond, tmp_path):
    profile = load_profile(PROFILE)
    path = tmp_path / f"scores_{tokens}.onnx"
    _attention_scores(path, tokens)
    frame = _frame(profile, path)
    features = featurize(frame, "other", profile.unit)
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
