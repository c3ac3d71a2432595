"""For users' own tests: tiny ONNX models built in code, and a one-line assertion that an estimate fits a budget.

The builders live in graph.build (graph is the only package that writes protobuf) and are the ones this
project's tests use. They return onnx.ModelProto, which `estimate` takes as is; `.SerializeToString()`
gives bytes. Weights the builders leave shape-only are never read by `estimate`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from estimator.errors import UsageError, printable_line
from graph.build import NodeSpec, linear_model, one_node_model, small_cnn, small_model

if TYPE_CHECKING:
    from estimator.predict.report import Report

__all__ = [
    "NodeSpec",
    "assert_budget",
    "budget_failures",
    "linear_model",
    "one_node_model",
    "small_cnn",
    "small_model",
]


def budget_failures(report: Report, runtime_ms: float | None = None, energy_mj: float | None = None) -> list[str]:
    """What in `report` misses a budget, one phrase each (empty: within every budget given).

    An energy budget on a profile without power models is a failure ("energy not measured"), never a pass.
    """
    budgets = {"runtime_ms": runtime_ms, "energy_mj": energy_mj}
    if all(value is None for value in budgets.values()):
        raise UsageError("a budget needs runtime_ms, energy_mj or both")
    for name, value in budgets.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value) or value <= 0):
            raise UsageError(f"budget {name} must be a positive number, not {value!r}")
    totals = report.totals
    at_least = ">= " if totals.lower_bound else ""
    failures = []
    if runtime_ms is not None and totals.runtime_ms > runtime_ms:
        failures.append(f"estimated runtime {at_least}{totals.runtime_ms:.4g} ms is over the budget of {runtime_ms:g} ms")
    if energy_mj is not None:
        if totals.energy_mj is None:
            failures.append("energy not measured for this profile; an energy budget needs a profile with power models "
                            "(estimate --list-profiles)")
        elif totals.energy_mj > energy_mj:
            failures.append(f"estimated energy {at_least}{totals.energy_mj:.4g} mJ is over the budget of {energy_mj:g} mJ")
    return failures


def assert_budget(report: Report, runtime_ms: float | None = None, energy_mj: float | None = None) -> None:
    """Raise AssertionError, one line naming the model, profile, estimate and budget, when `report` misses a budget.

    The totals are compared as reported: a lower-bound estimate (unmodeled nodes) is shown with ">=".
    """
    __tracebackhide__ = True
    failures = budget_failures(report, runtime_ms, energy_mj)
    if failures:
        raise AssertionError(printable_line(f"{report.model} on {report.profile_id}: " + "; ".join(failures)))
