"""Accuracy against calibration time, on unseen models (scripts/calibration_study.py)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from estimator.predict.estimation import estimate
from estimator.predict.profiles import Profile, load_profile
from estimator.train.calibration import copy_prefix, elapsed_s
from estimator.train.data import load_training_data
from estimator.train.graphs import graph_table
from estimator.train.kernel_evaluation import error_summary
from estimator.train.profiles import train_profile
from estimator.train.transfer import STRATEGIES, fit_transfer

__all__ = ["calibration_study"]


def calibration_study(calibration: Path, unseen: Path, base: Profile, full: Profile | None,
                      budgets: tuple[float, ...], strategies: tuple[str, ...] = STRATEGIES) -> pd.DataFrame:
    """One row per (budget, strategy): errors on the unseen models, plus the base and the full profile."""
    truth = load_training_data(unseen).models
    truth = truth[truth["source"] == "unseen"]
    rows = [{"budget_s": 0, "strategy": "base profile only", **_judge(base, truth)}]
    data = load_training_data(calibration)
    elapsed = elapsed_s(graph_table(data)).max()
    with tempfile.TemporaryDirectory(prefix="study-") as folder:
        for budget in [b for b in budgets if b <= elapsed + 1]:
            prefix = copy_prefix(calibration, budget, Path(folder) / f"data-{budget:g}")
            for strategy in strategies:
                out = Path(folder) / f"profile-{budget:g}-{strategy}"
                train_profile(prefix, out, out.name, fit=lambda frames, s=strategy: fit_transfer(frames, base.models, s))
                rows.append({"budget_s": budget, "strategy": strategy, **_judge(load_profile(out), truth)})
    if full is not None:
        rows.append({"budget_s": "full collection", "strategy": full.id, **_judge(full, truth)})
    return pd.DataFrame(rows)


def _judge(profile: Profile, truth: pd.DataFrame) -> dict[str, float]:
    root = Path(__file__).resolve().parents[2]
    errors = []
    for row in truth.itertuples():
        report = estimate(root / str(row.path), profile, batch_size=int(row.batch_size))
        errors.append((report.totals.runtime_ms / row.end_to_end_ms - 1) * 100)
    return error_summary(pd.Series(errors, dtype=float))
