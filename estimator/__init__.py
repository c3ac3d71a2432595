"""estimator: layer records -> runtime, power and energy predictions and reports.

Names are imported lazily so that `estimate --help` starts without loading CatBoost.
"""

from __future__ import annotations

import importlib

__all__ = [
    "Comparison",
    "Curve",
    "CurvePoint",
    "EstimatorError",
    "Profile",
    "ProfileError",
    "Report",
    "Totals",
    "compare",
    "estimate",
    "estimate_curve",
    "estimate_many",
    "list_profiles",
    "load_profile",
]

_SOURCES = {
    "estimate": "estimator.predict.estimation",
    "estimate_many": "estimator.predict.estimation",
    "estimate_curve": "estimator.predict.curve",
    "Curve": "estimator.predict.curve",
    "CurvePoint": "estimator.predict.curve",
    "Report": "estimator.predict.report",
    "Totals": "estimator.predict.report",
    "Comparison": "estimator.predict.comparison",
    "compare": "estimator.predict.comparison",
    "Profile": "estimator.predict.profiles",
    "load_profile": "estimator.predict.profiles",
    "list_profiles": "estimator.predict.profiles",
    "EstimatorError": "estimator.errors",
    "ProfileError": "estimator.errors",
}


def __getattr__(name: str):
    if name in _SOURCES:
        return getattr(importlib.import_module(_SOURCES[name]), name)
    raise AttributeError(f"module 'estimator' has no attribute {name!r}")
