"""The pytest plugin (entry point pytest11 `onnx_cost`): estimate ONNX models in tests, against budgets and a baseline.

- fixture `onnx_cost`: `onnx_cost(model, **estimate_options)` returns estimate()'s Report and records it;
  `onnx_cost.assert_budget(report, runtime_ms=..., energy_mj=...)` fails the test when the report misses a budget;
- marker `onnx_cost_budget(runtime_ms=..., energy_mj=...)`: the budget of every estimate the test makes through
  the fixture;
- `--onnx-cost-baseline FILE`: each estimate is compared with FILE's estimate of the same test, model and options;
  runtime (and energy, where both have it) more than `--onnx-cost-threshold` (default 0.10: +10%) above it fails
  the test. An estimate FILE does not hold is reported in the summary, not failed (a new test is not a
  regression); one FILE made with another profile is not compared: a pytest warning (OnnxCostWarning) says so;
- `--onnx-cost-save-baseline FILE`: writes this run's estimates into FILE at the end of the run (its other
  estimates are kept), atomically;
- a table of the run's estimates in the terminal summary, when a test used the fixture.

pytest loads every installed plugin on every run of every test suite, so this module imports only the standard
library and pytest: the estimator (onnx, pandas, CatBoost) is imported when a test first uses the fixture.
"""

from __future__ import annotations

import json
import math
import os
import platform
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from estimator.predict.report import Report

__all__ = ["BASELINE_FORMAT", "DEFAULT_THRESHOLD", "MARKER", "Estimate", "OnnxCost", "OnnxCostWarning"]

DEFAULT_THRESHOLD = 0.10
MARKER = "onnx_cost_budget"
BASELINE_FORMAT = {"format": "onnx-cost-baseline", "format_version": 1}


class OnnxCostWarning(pytest.PytestWarning):
    """An estimate was not compared with its baseline: the baseline was made with another profile."""


@dataclass
class Estimate:
    """One estimate a test made through the fixture: what the summary shows and the baseline stores."""

    test: str  # the test's node id
    model: str  # a path's file name, else the label estimate() gives the model (the graph's name)
    options: dict[str, Any]  # estimate()'s options other than the profile
    profile_id: str
    runtime_ms: float
    energy_mj: float | None  # None: the profile has no power models
    lower_bound: bool
    baseline: str = "-"  # against --onnx-cost-baseline: "+1.2%", "not in baseline", "other profile"
    budgets: list[str] = field(default_factory=list)  # e.g. "5 ms ok", "1 mJ MISSED"

    @property
    def key(self) -> str:
        """The estimate's name in a baseline: test id, model and options."""
        options = f" {json.dumps(self.options, sort_keys=True, default=str)}" if self.options else ""
        return f"{self.test} [{self.model}]{options}"

    def stored(self) -> dict[str, Any]:
        return {"test": self.test, "model": self.model, "options": json.loads(json.dumps(self.options, default=str)),
                "profile_id": self.profile_id, "runtime_ms": self.runtime_ms, "energy_mj": self.energy_mj}


class _Run:
    """The plugin's state for one pytest run: options, the baseline read, estimates made."""

    def __init__(self, baseline_path: Path | None, save_path: Path | None, threshold: float) -> None:
        self.baseline_path, self.save_path, self.threshold = baseline_path, save_path, threshold
        self.baseline = _read_baseline(baseline_path, "--onnx-cost-baseline") if baseline_path else None
        exists = save_path is not None and save_path.exists()
        self.kept = _read_baseline(save_path, "--onnx-cost-save-baseline") if exists else {}
        self.estimates: list[Estimate] = []
        self.saved = 0

    def compare(self, estimate: Estimate) -> list[str]:
        """Regressions beyond the threshold against the baseline, one phrase each; sets estimate.baseline."""
        if self.baseline is None:
            return []
        stored = self.baseline.get(estimate.key)
        if stored is None:
            estimate.baseline = "not in baseline"
            return []
        if stored["profile_id"] != estimate.profile_id:
            estimate.baseline = "other profile"
            warnings.warn(OnnxCostWarning(
                f"{estimate.key}: the baseline {self.baseline_path} was made with profile {stored['profile_id']}, this "
                f"run uses {estimate.profile_id}: not compared; name the profile in the test (profile=...) or save the "
                "baseline again with --onnx-cost-save-baseline"), stacklevel=3)
            return []
        failures, deltas = [], []
        pairs = [("runtime", "ms", estimate.runtime_ms, stored["runtime_ms"])]
        if estimate.energy_mj is not None and stored.get("energy_mj") is not None:
            pairs.append(("energy", "mJ", estimate.energy_mj, stored["energy_mj"]))
        for quantity, unit, now, before in pairs:
            delta = now / before - 1
            deltas.append(f"{delta:+.1%}" if quantity == "runtime" else f"{quantity} {delta:+.1%}")
            if delta > self.threshold:
                failures.append(f"estimated {quantity} {now:.4g} {unit} is {delta:+.1%} over the baseline's {before:.4g} "
                                f"{unit} (threshold +{self.threshold * 100:g}%, {self.baseline_path})")
        estimate.baseline = ", ".join(deltas)
        return failures

    def save(self, path: Path) -> None:
        """Write this run's estimates into the baseline file `path` (its other estimates kept), atomically."""
        from estimator.files import write_atomic

        estimates = {**self.kept, **{estimate.key: estimate.stored() for estimate in self.estimates}}
        document = {**BASELINE_FORMAT, "versions": _versions(), "estimates": dict(sorted(estimates.items()))}
        write_atomic(path, json.dumps(document, indent=2) + "\n")
        self.saved = len({estimate.key for estimate in self.estimates})


class OnnxCost:
    """What the `onnx_cost` fixture gives a test: call it to estimate a model, `assert_budget` to hold a report to a budget."""

    def __init__(self, item: pytest.Item, run: _Run) -> None:
        self._item, self._run = item, run
        self._made: list[tuple[Report, Estimate]] = []

    def __call__(self, model: Any, **options: Any) -> Report:
        """estimate(model, **options)'s Report, recorded, held to the test's budget marker and to the baseline."""
        __tracebackhide__ = True
        from estimator import estimate

        report = estimate(model, **options)
        totals = report.totals
        label = Path(model).name if isinstance(model, (str, os.PathLike)) else report.model
        keyed = {name: value for name, value in options.items() if name != "profile"}  # the profile: report.profile_id
        made = Estimate(self._item.nodeid, label, keyed, report.profile_id, totals.runtime_ms, totals.energy_mj,
                        totals.lower_bound)
        self._run.estimates.append(made)
        self._made.append((report, made))
        failures = self._run.compare(made)
        marker = self._item.get_closest_marker(MARKER)
        if marker is not None:
            failures += self._budget(report, made, *marker.args, **marker.kwargs)
        if failures:
            raise AssertionError(_failure(made, failures))
        return report

    def assert_budget(self, report: Report, runtime_ms: float | None = None, energy_mj: float | None = None) -> None:
        """Fail the test (AssertionError, one line) when `report` misses a budget; the summary shows the result.

        An energy budget on a profile without power models fails ("energy not measured for this profile").
        """
        __tracebackhide__ = True
        made = next((estimate for known, estimate in self._made if known is report), None)
        if made is None:
            from estimator.testing import assert_budget

            assert_budget(report, runtime_ms, energy_mj)  # a report this fixture did not make: not in the summary
            return
        failures = self._budget(report, made, runtime_ms, energy_mj)
        if failures:
            raise AssertionError(_failure(made, failures))

    @staticmethod
    def _budget(report: Report, made: Estimate, runtime_ms: float | None = None, energy_mj: float | None = None
                ) -> list[str]:
        from estimator.testing import budget_failures

        failures = budget_failures(report, runtime_ms, energy_mj)
        budgets = [f"{runtime_ms:g} ms" if runtime_ms is not None else "", f"{energy_mj:g} mJ" if energy_mj is not None else ""]
        made.budgets.append(", ".join(budget for budget in budgets if budget) + (" MISSED" if failures else " ok"))
        return failures


def _failure(made: Estimate, failures: list[str]) -> str:
    from estimator.errors import printable_line

    return printable_line(f"{made.model} on {made.profile_id}: " + "; ".join(failures))


_RUN = pytest.StashKey[_Run]()


@pytest.fixture
def onnx_cost(request: pytest.FixtureRequest) -> OnnxCost:
    """Estimate a model: `onnx_cost(model, **options)` returns estimate(model, **options)'s Report (profile=..., ...).

    Each estimate is held to the test's onnx_cost_budget marker and to --onnx-cost-baseline, and shown in the
    summary; `onnx_cost.assert_budget(report, runtime_ms=..., energy_mj=...)` holds one report to a budget.
    """
    return OnnxCost(request.node, request.config.stash[_RUN])


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("onnx-cost", "onnx-cost-estimator: estimated runtime and energy of ONNX models")
    group.addoption("--onnx-cost-baseline", metavar="FILE", type=Path,
                    help="compare each estimate of the onnx_cost fixture with FILE's and fail a test on a regression "
                         "beyond --onnx-cost-threshold (an estimate FILE does not hold is reported, not failed)")
    group.addoption("--onnx-cost-save-baseline", metavar="FILE", type=Path,
                    help="write this run's estimates into FILE at the end of the run (FILE's other estimates are kept)")
    group.addoption("--onnx-cost-threshold", metavar="FRACTION", type=float, default=DEFAULT_THRESHOLD,
                    help=f"the regression that fails a test, as a fraction of the baseline (default {DEFAULT_THRESHOLD}: "
                         "+10%%); applies to runtime, and to energy where both have it")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(runtime_ms=None, energy_mj=None): the budget of every estimate the test makes "
                   "through the onnx_cost fixture; an energy budget fails on a profile without power models")
    threshold = config.getoption("onnx_cost_threshold")
    if not math.isfinite(threshold) or threshold < 0:
        raise pytest.UsageError(f"--onnx-cost-threshold must be a fraction of 0 or more (0.10 is +10%), not {threshold}")
    config.stash[_RUN] = _Run(config.getoption("onnx_cost_baseline"), config.getoption("onnx_cost_save_baseline"),
                              threshold)


def pytest_sessionfinish(session: pytest.Session) -> None:
    run = session.config.stash.get(_RUN, None)
    if run is not None and run.save_path is not None and run.estimates:
        run.save(run.save_path)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    run = config.stash.get(_RUN, None)
    if run is None or not run.estimates:
        return
    from tabulate import tabulate

    from estimator.errors import printable

    rows = [[printable(cell) for cell in (
        estimate.test, estimate.model, estimate.profile_id,
        (">= " if estimate.lower_bound else "") + f"{estimate.runtime_ms:.4g}",
        "not measured" if estimate.energy_mj is None else f"{estimate.energy_mj:.4g}",
        estimate.baseline, "; ".join(estimate.budgets) or "-")] for estimate in run.estimates]
    terminalreporter.write_sep("-", "onnx-cost estimates")
    table = tabulate(rows, headers=["test", "model", "profile", "runtime ms", "energy mJ", "baseline", "budget"],
                     tablefmt="simple", disable_numparse=True)
    for line in table.splitlines():
        terminalreporter.write_line(line)
    missing = sum(estimate.baseline == "not in baseline" for estimate in run.estimates)
    if missing:
        terminalreporter.write_line(f"{missing} estimate(s) not in the baseline {run.baseline_path}: reported, not "
                                    "failed; add them with --onnx-cost-save-baseline")
    if run.saved:
        terminalreporter.write_line(f"saved {run.saved} estimate(s) to the baseline {run.save_path}")


def _read_baseline(path: Path, option: str) -> dict[str, dict[str, Any]]:
    """The estimates of a baseline file, checked; a missing or malformed file is a usage error."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise pytest.UsageError(f"{option} {path}: file not found; make it with --onnx-cost-save-baseline {path}") from None
    except (OSError, ValueError) as error:
        raise pytest.UsageError(f"{option} {path}: not a readable onnx-cost baseline ({error})") from None
    estimates = document.get("estimates") if isinstance(document, dict) else None
    if (not isinstance(estimates, dict) or document.get("format") != BASELINE_FORMAT["format"]
            or not all(_valid_entry(entry) for entry in estimates.values())):
        raise pytest.UsageError(f"{option} {path}: not an onnx-cost baseline (made by --onnx-cost-save-baseline)")
    return estimates


def _valid_entry(entry: object) -> bool:
    def positive(value: object) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0

    return (isinstance(entry, dict) and isinstance(entry.get("profile_id"), str) and positive(entry.get("runtime_ms"))
            and (entry.get("energy_mj") is None or positive(entry["energy_mj"])))


def _versions() -> dict[str, str]:
    try:
        package = metadata.version("onnx-cost-estimator")
    except metadata.PackageNotFoundError:
        package = "unknown"
    return {"onnx-cost-estimator": package, "python": platform.python_version()}
