"""estimator/testing.py: a budget assertion that names the model, the estimate and the budget in one line."""

from __future__ import annotations

import dataclasses

import pytest

from estimator.errors import UsageError
from estimator.testing import assert_budget
from tests.estimator_fixtures import hand_report

# hand_report: runtime 4.0 ms, energy 40.0 mJ, profile "hand".
MODEL = "/home/someone/models/net.onnx on hand"


def test_a_report_at_its_budget_passes():
    assert_budget(hand_report(), runtime_ms=4.0, energy_mj=40.0)


def test_a_report_over_budget_fails_with_one_line_naming_model_estimate_and_budget():
    with pytest.raises(AssertionError) as raised:
        assert_budget(hand_report(), runtime_ms=3.5, energy_mj=30)
    assert str(raised.value) == (f"{MODEL}: estimated runtime 4 ms is over the budget of 3.5 ms; "
                                 "estimated energy 40 mJ is over the budget of 30 mJ")


def test_an_energy_budget_without_power_fails_instead_of_passing():
    with pytest.raises(AssertionError) as raised:
        assert_budget(hand_report(power=False), energy_mj=1e9)
    assert str(raised.value) == (f"{MODEL}: energy not measured for this profile; an energy budget needs a profile "
                                 "with power models (estimate --list-profiles)")


def test_a_lower_bound_is_shown_as_one():
    report = hand_report()
    lower = dataclasses.replace(report, totals=dataclasses.replace(report.totals, lower_bound=True))
    with pytest.raises(AssertionError, match=r"estimated runtime >= 4 ms is over the budget of 2 ms$"):
        assert_budget(lower, runtime_ms=2)


@pytest.mark.parametrize(("runtime_ms", "energy_mj"), [(None, None), (0, None), (-1.0, None), (float("nan"), None),
                                                       (True, None), (None, "5")])
def test_a_budget_that_could_never_fail_is_refused(runtime_ms, energy_mj):
    with pytest.raises(UsageError, match="budget"):
        assert_budget(hand_report(), runtime_ms=runtime_ms, energy_mj=energy_mj)
