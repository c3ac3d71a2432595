"""End-to-end truth as users see it: a default session, timed in rounds over several cases."""

from __future__ import annotations

from onnx import helper

from estimator.measure.truth import time_in_rounds


def test_rounds_take_every_case_in_turn(make_model):
    relu = make_model([helper.make_node("Relu", ["x"], ["y"], name="relu")], {"x": (1, 8)}).SerializeToString()
    called = []
    cases = [(relu, {"x": (1, 8)}, 1), (relu, {"x": (4, 8)}, 1)]
    timings = time_in_rounds(cases, 2, lambda index, seconds: called.append((index, seconds)))
    assert [len(timed) for timed in timings] == [2, 2]  # per round, one timing per case
    assert all(ms > 0 for timed in timings for ms, _ in timed)
    taken = [seconds for timed in timings for _, seconds in timed]
    assert taken == sorted(taken)  # round 0's cases, then round 1's
    assert [index for index, _ in called] == [0, 1] and called[1][1] >= taken[-1]
