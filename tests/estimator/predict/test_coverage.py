"""Honest totals: the share of MACs modeled, the lower-bound marker in every format, and --require-modeled."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from estimator import estimate
from estimator.cli import main
from estimator.testing import small_cnn

# A shipped profile trained without transposed convolutions (the default one has them).
NO_TRANSPOSED = "cpu-epyc-1thread"


def _with_transposed_conv() -> onnx.ModelProto:
    """small_cnn's first conv (3->8, 3x3 on 32x32) followed by a 2x2 stride-2 ConvTranspose (8->8)."""
    model = small_cnn()
    weight = numpy_helper.from_array(np.ones((8, 8, 2, 2), dtype=np.float32), "wt")
    model.graph.initializer.append(weight)
    up = helper.make_node("ConvTranspose", ["r1", "wt"], ["up"], strides=[2, 2], name="up")
    relu = next(index for index, node in enumerate(model.graph.node) if node.name == "relu1")
    model.graph.node.insert(relu + 1, up)
    pool = next(node for node in model.graph.node if node.name == "pool1")
    pool.input[0] = "up"
    return model


def test_fully_covered_model_is_not_a_lower_bound():
    totals = estimate(small_cnn()).totals
    # conv1: 8 x 32 x 32 outputs x 27 MACs; fc: 8 x 10
    assert (totals.macs_total, totals.macs_modeled) == (8 * 32 * 32 * 27 + 80, 8 * 32 * 32 * 27 + 80)
    assert totals.macs_modeled_share == 1.0
    assert not totals.lower_bound and totals.lower_bound_reasons == ()


def test_layers_of_a_kind_the_profile_never_saw_make_a_lower_bound():
    totals = estimate(_with_transposed_conv(), profile=NO_TRANSPOSED).totals
    transposed = 8 * 32 * 32 * 8 * 4
    assert totals.macs_total == 8 * 32 * 32 * 27 + transposed + 80
    assert totals.macs_modeled == totals.macs_total - transposed
    assert totals.lower_bound
    assert "conv_transpose layers the profile has no training data for" in totals.lower_bound_reasons[0]


def test_the_default_profile_models_transposed_convolutions():
    totals = estimate(_with_transposed_conv()).totals
    assert totals.macs_modeled == totals.macs_total and not totals.lower_bound


def test_unmodeled_node_makes_a_lower_bound_with_its_reason():
    totals = estimate(small_cnn(with_unmodeled=True)).totals
    assert totals.lower_bound
    assert totals.lower_bound_reasons == ("unmodeled, cost unknown: LpPool x1",)


def test_every_format_says_lower_bound():
    report = estimate(_with_transposed_conv(), profile=NO_TRANSPOSED)
    assert "LOWER BOUND" in report.to_table() and ">= " in report.to_table()
    reason = "of MACs in conv_transpose layers the profile has no training data for"
    assert "**Lower bound:** the totals miss compute" in report.to_markdown() and reason in report.to_markdown()
    assert "Lower bound: the totals miss compute" in report.to_html() and reason in report.to_html()
    assert "LOWER BOUND" in report.to_csv().splitlines()[-1]
    totals = json.loads(report.to_json())["totals"]
    assert totals["lower_bound"] is True and 0 < totals["macs_modeled_share"] < 1


@pytest.fixture()
def transposed_path(tmp_path):
    path = tmp_path / "transposed.onnx"
    path.write_bytes(_with_transposed_conv().SerializeToString())
    return path


def test_require_modeled_exits_3_and_still_writes_the_report(transposed_path, capsys):
    share = estimate(transposed_path, profile=NO_TRANSPOSED).totals.macs_modeled_share
    options = ["--profile", NO_TRANSPOSED, "--require-modeled"]
    assert main([str(transposed_path), *options, "0.99", "--format", "json"]) == 3
    captured = capsys.readouterr()
    assert json.loads(captured.out)["totals"]["lower_bound"] is True
    assert captured.err.count("\n") == 1
    assert f"{share * 100:.1f}% of MACs modeled, below --require-modeled 0.99" in captured.err
    assert main([str(transposed_path), *options, f"{share - 0.01:.2f}"]) == 0


def test_require_modeled_must_be_a_share(transposed_path, capsys):
    assert main([str(transposed_path), "--require-modeled", "95"]) == 2
    assert "--require-modeled 95.0: must be a share from 0 to 1" in capsys.readouterr().err
