"""Where the time goes, on a hand-made report whose sums are worked out by hand."""

from __future__ import annotations

import dataclasses
import types

import pytest

from estimator.predict.breakdown import (
    RUN_OVERHEAD,
    cost_by,
    device_note,
    is_lower_bound,
    model_title,
    ranked,
    side_by_side,
    top_layers,
    unique_titles,
)
from estimator.predict.render.cells import compact_path, ms_text, shorten_middle
from tests.estimator_fixtures import hand_report


def test_cost_by_layer_type_sums_runtime_interval_and_energy():
    frame = cost_by(hand_report(), "layer_type")
    assert frame["group"].tolist() == ["convolutional", "other", "dense"]  # ties keep graph order
    assert frame["layers"].tolist() == [2, 1, 1]
    assert frame["runtime_ms"].tolist() == [3.0, 0.5, 0.5]
    assert frame["runtime_low_ms"].tolist() == pytest.approx([2.3, 0.4, 0.5])
    assert frame["runtime_high_ms"].tolist() == pytest.approx([3.7, 0.6, 0.5])
    assert frame["runtime_share"].tolist() == [0.75, 0.125, 0.125]
    assert frame["energy_mj"].tolist() == [30.0, 4.0, 6.0]


def test_cost_by_op_type_and_unmeasured_energy():
    frame = cost_by(hand_report(power=False), "op_type")
    assert frame["group"].tolist() == ["Conv", "Relu", "Gemm"]
    assert frame["energy_mj"].tolist() == [None, None, None]


def test_a_missing_column_gives_an_empty_breakdown():
    assert cost_by(hand_report(), "kernel").empty


def test_a_run_overhead_is_its_own_row_and_shares_are_of_the_total():
    report = hand_report()
    totals = types.SimpleNamespace(**dataclasses.asdict(report.totals))
    totals.run_overhead_ms, totals.runtime_ms = 1.0, 5.0
    frame = cost_by(dataclasses.replace(report, totals=totals), "layer_type")
    assert frame["group"].tolist() == ["convolutional", RUN_OVERHEAD, "other", "dense"]
    assert frame["runtime_share"].tolist() == [0.6, 0.2, 0.1, 0.1]
    assert frame["runtime_ms"].sum() == 5.0


def test_top_layers_keep_their_position_in_graph_order():
    top = top_layers(hand_report(), 2)
    assert top["name"].tolist() == ["/m/m.0/conv1/Conv", "/m/m.1/conv2/Conv"]
    assert top["position"].tolist() == [1, 3]
    assert len(top_layers(hand_report(), 0)) == 4


def test_lower_bound_and_device_note():
    assert is_lower_bound(hand_report()) and not is_lower_bound(hand_report(unmodeled=False))
    assert device_note(hand_report()) is None
    noted = dataclasses.replace(hand_report(), device_note="measured on another machine")
    assert device_note(noted) == "measured on another machine"


def test_titles_are_file_names_made_unique_by_their_folders():
    assert model_title("/home/someone/models/net.onnx") == "net.onnx"
    assert model_title("C:\\Users\\me\\net.onnx") == "net.onnx"
    assert unique_titles(["/a/x/net.onnx", "/b/x/net.onnx", "/c/other.onnx", "/c/other.onnx"]) == [
        "a/x/net.onnx", "b/x/net.onnx", "other.onnx", "other.onnx (2)"]


def test_side_by_side_puts_the_cheapest_first_with_ratios():
    slow = hand_report("/m/slow.onnx", runtime_scale=2.0)
    fast = hand_report("/m/fast.onnx", unmodeled=False)
    assert [title for title, _ in ranked([slow, fast])] == ["fast.onnx", "slow.onnx"]
    totals, by_type = side_by_side([slow, fast])
    assert totals["title"].tolist() == ["fast.onnx", "slow.onnx"]
    assert totals["runtime_vs_fastest"].tolist() == [1.0, 2.0]
    assert totals["energy_vs_lowest"].tolist() == [1.0, 2.0]
    assert totals["lower_bound"].tolist() == [False, True]
    assert by_type["layer_type"].tolist() == ["convolutional"] * 2 + ["other"] * 2 + ["dense"] * 2
    assert by_type["title"].tolist()[:2] == ["fast.onnx", "slow.onnx"]
    assert by_type["runtime_ms"].tolist()[:2] == [3.0, 6.0]


def test_labels_drop_repeated_segments_then_shorten_from_the_middle():
    assert compact_path("/features/features.2/block/block.0/block.0.0/Conv") == "/features.2/block.0.0/Conv"
    assert compact_path("conv1") == "conv1"
    assert shorten_middle("abcdefghij", 7) == "ab…ghij"
    assert shorten_middle("short", 7) == "short"


def test_milliseconds_keep_about_four_significant_digits():
    assert [ms_text(v) for v in (0.00032581, 0.11966, 1.6288, 14.213, 1203.4)] == [
        "0.000326", "0.1197", "1.629", "14.21", "1203"]
