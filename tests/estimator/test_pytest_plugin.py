"""estimator/pytest_plugin.py, for real: inner pytest runs (pytester) whose tests estimate tiny models built in code.

The inner tests name the shipped default profile, so that a profile calibrated on this machine does not change
their numbers; the outer tests work the expected numbers out with the same estimate.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points

import pytest

import estimator.pytest_plugin
from estimator import estimate
from estimator.predict.profiles import DEFAULT_PROFILE
from estimator.testing import small_cnn
from tests.paths import ROOT

pytest_plugins = ["pytester"]

PROFILE = DEFAULT_PROFILE  # runtime only: no power models
HEADER = f"""
import pytest
from estimator.testing import linear_model, small_cnn

PROFILE = "{PROFILE}"
"""
CNN_KEY = "test_base.py::test_cnn [small_cnn]"
BATCH_KEY = 'test_base.py::test_cnn_batch [small_cnn] {"batch_size": 4}'
BASE = HEADER + """
def test_cnn(onnx_cost):
    onnx_cost(small_cnn(), profile=PROFILE)


def test_cnn_batch(onnx_cost):
    onnx_cost(small_cnn(), profile=PROFILE, batch_size=4)
"""


@pytest.fixture(scope="module")
def cnn_ms() -> float:
    """small_cnn's runtime on the profile, as the inner tests' estimates will give it."""
    return estimate(small_cnn(), profile=PROFILE).totals.runtime_ms


@pytest.fixture
def run(pytester, monkeypatch):
    """Run pytest in-process on the inner files, with this plugin loaded once and no other installed plugin.

    With autoloading off, the package's pytest11 entry point (when installed) does not load the plugin, so
    `-p estimator.pytest_plugin` is its one registration (pytest refuses to register one module twice,
    which `-p` next to the entry point would do), whether or not this environment installed the entry point.
    The other installed plugins stay out too: hypothesis and pytest-benchmark cost ~2.7 s per inner run.
    This process imported the plugin already, so pytest cannot rewrite its asserts (it has none) and says so.
    The entry point itself: test_the_installed_entry_point_is_the_plugin, and a clean install (README).
    """
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")

    def run_pytest(*arguments: str) -> pytest.RunResult:
        return pytester.runpytest("-p", "estimator.pytest_plugin", "-W", "ignore::pytest.PytestAssertRewriteWarning",
                                  *arguments)

    return run_pytest


def _baseline(estimates: dict[str, dict]) -> str:
    return json.dumps({"format": "onnx-cost-baseline", "format_version": 1, "estimates": estimates})


def _entry(key: str, runtime_ms: float, profile_id: str = PROFILE) -> dict:
    return {"test": key.split(" ")[0], "model": "small_cnn", "options": {}, "profile_id": profile_id,
            "runtime_ms": runtime_ms, "energy_mj": None}


def test_the_fixture_returns_the_report_and_the_summary_lists_it(pytester, run, cnn_ms):
    pytester.makepyfile(test_report=HEADER + """
def test_report(onnx_cost):
    from estimator import Report

    report = onnx_cost(small_cnn(), profile=PROFILE)
    assert isinstance(report, Report) and report.profile_id == PROFILE and report.totals.energy_mj is None
""")
    result = run()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "*- onnx-cost estimates -*",
        "test * model * profile * runtime ms * energy mJ * baseline * budget*",
        f"test_report.py::test_report * small_cnn * {PROFILE} * {cnn_ms:.4g} * not measured * - * -*",
    ])


def test_no_summary_when_no_test_uses_the_fixture(pytester, run):
    pytester.makepyfile(test_plain="def test_plain():\n    assert True\n")
    result = run()
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*onnx-cost*")


def test_assert_budget_passes_within_and_fails_over_with_one_line(pytester, run, cnn_ms):
    pytester.makepyfile(test_budget=HEADER + """
def test_within(onnx_cost):
    report = onnx_cost(small_cnn(), profile=PROFILE)
    onnx_cost.assert_budget(report, runtime_ms=report.totals.runtime_ms)


def test_over(onnx_cost):
    report = onnx_cost(small_cnn(), profile=PROFILE)
    onnx_cost.assert_budget(report, runtime_ms=report.totals.runtime_ms * 0.99)
""")
    result = run()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        f"E *AssertionError: small_cnn on {PROFILE}: estimated runtime {cnn_ms:.4g} ms is over the budget of "
        f"{cnn_ms * 0.99:g} ms",
        f"test_budget.py::test_within * {cnn_ms:g} ms ok*",
        f"test_budget.py::test_over * {cnn_ms * 0.99:g} ms MISSED*",
    ])


def test_the_budget_marker_holds_every_estimate_of_the_test(pytester, run):
    pytester.makepyfile(test_marker=HEADER + """
@pytest.mark.onnx_cost_budget(runtime_ms=1000)
def test_within(onnx_cost):
    onnx_cost(linear_model(), profile=PROFILE)
    onnx_cost(small_cnn(), profile=PROFILE)


@pytest.mark.onnx_cost_budget(runtime_ms=1e-6)
def test_over(onnx_cost):
    onnx_cost(linear_model(), profile=PROFILE)
""")
    result = run("--strict-markers")  # the marker is registered
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        f"E *AssertionError: linear on {PROFILE}: estimated runtime * ms is over the budget of 1e-06 ms",
        "test_marker.py::test_within * linear * 1000 ms ok*",
        "test_marker.py::test_within * small_cnn * 1000 ms ok*",
        "test_marker.py::test_over * linear * 1e-06 ms MISSED*",
    ])


def test_an_energy_budget_on_a_profile_without_power_fails(pytester, run):
    pytester.makepyfile(test_energy=HEADER + """
@pytest.mark.onnx_cost_budget(energy_mj=1e9)
def test_energy(onnx_cost):
    onnx_cost(small_cnn(), profile=PROFILE)
""")
    result = run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"E *AssertionError: small_cnn on {PROFILE}: energy not measured for this profile; *"])


def test_a_saved_baseline_holds_every_estimate_and_compares_equal(pytester, run, cnn_ms):
    pytester.makepyfile(test_base=BASE)
    saved = run("--onnx-cost-save-baseline", "base.json")
    saved.assert_outcomes(passed=2)
    saved.stdout.fnmatch_lines(["saved 2 estimate(s) to the baseline base.json"])
    document = json.loads((pytester.path / "base.json").read_text())
    assert document["format"] == "onnx-cost-baseline" and set(document["versions"]) == {"onnx-cost-estimator", "python"}
    assert set(document["estimates"]) == {CNN_KEY, BATCH_KEY}
    cnn = document["estimates"][CNN_KEY]
    assert (cnn["profile_id"], cnn["runtime_ms"], cnn["energy_mj"]) == (PROFILE, cnn_ms, None)
    assert document["estimates"][BATCH_KEY]["options"] == {"batch_size": 4}

    compared = run("--onnx-cost-baseline", "base.json")
    compared.assert_outcomes(passed=2)
    compared.stdout.fnmatch_lines(["test_base.py::test_cnn * +0.0% *", "test_base.py::test_cnn_batch * +0.0% *"])


def test_a_regression_beyond_the_threshold_fails(pytester, run, cnn_ms):
    pytester.makepyfile(test_base=BASE)
    recorded = cnn_ms / 1.2
    (pytester.path / "base.json").write_text(_baseline({CNN_KEY: _entry(CNN_KEY, recorded)}))
    result = run("--onnx-cost-baseline", "base.json")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        f"E *AssertionError: small_cnn on {PROFILE}: estimated runtime {cnn_ms:.4g} ms is +20.0% over the baseline's "
        f"{recorded:.4g} ms (threshold +10%, base.json)"])
    run("--onnx-cost-baseline", "base.json", "--onnx-cost-threshold", "0.25").assert_outcomes(passed=2)


def test_an_estimate_not_in_the_baseline_is_reported_and_another_profile_warns(pytester, run, cnn_ms):
    pytester.makepyfile(test_base=BASE)
    (pytester.path / "base.json").write_text(_baseline({CNN_KEY: _entry(CNN_KEY, cnn_ms / 2, profile_id="other")}))
    result = run("--onnx-cost-baseline", "base.json")
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines([
        f"*OnnxCostWarning: test_base.py::test_cnn [[]small_cnn[]]: the baseline base.json was made with profile other, "
        f"this run uses {PROFILE}: not compared; *",
        "test_base.py::test_cnn * other profile *",
        "test_base.py::test_cnn_batch * not in baseline *",
        "1 estimate(s) not in the baseline base.json: reported, not failed*",
    ])


@pytest.mark.parametrize(("content", "message"), [
    (None, "*--onnx-cost-baseline base.json: file not found*"),
    ("{}", "*--onnx-cost-baseline base.json: not an onnx-cost baseline*"),
    (_baseline({CNN_KEY: {"profile_id": PROFILE, "runtime_ms": -1}}), "*not an onnx-cost baseline*"),
])
def test_a_missing_or_malformed_baseline_stops_the_run(pytester, run, content, message):
    if content is not None:
        (pytester.path / "base.json").write_text(content)
    result = run("--onnx-cost-baseline", "base.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_the_options_are_grouped_under_one_prefix(run):
    run("--help").stdout.fnmatch_lines(["onnx-cost-estimator: *", "  --onnx-cost-baseline=FILE*",
                                        "  --onnx-cost-save-baseline=FILE*", "  --onnx-cost-threshold=FRACTION*"])


def test_the_installed_entry_point_is_the_plugin(pytestconfig):
    if not entry_points(group="pytest11", name="onnx_cost"):
        pytest.skip("the package is installed without its pytest11 entry point (an editable install made before it)")
    assert pytestconfig.pluginmanager.get_plugin("onnx_cost") is estimator.pytest_plugin


def test_importing_the_plugin_loads_neither_onnx_nor_pandas_nor_catboost():
    heavy = ("onnx", "onnxruntime", "catboost", "pandas", "numpy", "tabulate", "graph", "estimator.predict")
    code = f"import sys, estimator.pytest_plugin; print([name for name in {heavy!r} if name in sys.modules])"
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
