"""The public names of both packages (and of the modules for users' tests) resolve; nothing private is in __all__."""

from __future__ import annotations

import estimator
import estimator.pytest_plugin
import estimator.testing
import graph


def test_every_exported_name_resolves():
    for package in (graph, estimator, estimator.testing, estimator.pytest_plugin):
        for name in package.__all__:
            assert getattr(package, name) is not None, f"{package.__name__}.{name}"
            assert not name.startswith("_")


def test_estimate_is_the_function_not_its_module():
    assert callable(estimator.estimate)
    assert estimator.estimate.__name__ == "estimate"
