"""Accuracy against calibration time, on unseen models (scripts/calibration_study.py)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from estimator.errors import TrainingDataError
from estimator.predict.estimation import estimate
from estimator.predict.profiles import Profile, load_profile
from estimator.train.accuracy import error_summary
from estimator.train.calibration import copy_prefix, elapsed_s
from estimator.train.data import load_training_data
from estimator.train.graphs import graph_table
from estimator.train.transfer import AUTO, CHOICES, train_transferred

__all__ = ["calibration_study"]


def calibration_study(calibration: Path, unseen: Path, base: Profile, full: Profile | None,
                      budgets: tuple[float, ...], strategies: tuple[str, ...] = CHOICES,
                      profiles: tuple[Profile, ...] = ()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Errors on the unseen models for each (budget, strategy; auto: with the strategy it chose), trained as
    estimate-calibrate trains, the base, the full profile and any other
    `profiles` (e.g. the one estimate-calibrate wrote): a summary with one row each, and every model's
    error (%) with one column each."""
    if not (Path(unseen) / "models.csv").is_file():
        raise TrainingDataError(f"{unseen}: no models.csv; time the unseen models first (scripts/collect.py --unseen all)")
    truth = pd.read_csv(Path(unseen) / "models.csv")
    truth = truth[truth["source"] == "unseen"].reset_index(drop=True)
    judged = {("0", "base profile only"): _errors(base, truth)}
    data = load_training_data(calibration)
    elapsed = elapsed_s(graph_table(data)).max()
    with tempfile.TemporaryDirectory(prefix="study-") as folder:
        for budget in [b for b in budgets if b <= elapsed + 1]:
            prefix = copy_prefix(calibration, budget, Path(folder) / f"data-{budget:g}")
            for strategy in strategies:
                out = Path(folder) / f"profile-{budget:g}-{strategy}"
                chosen = train_transferred(prefix, out, out.name, base, strategy)["origin"]["strategy"]
                label = f"{strategy} ({chosen})" if strategy == AUTO else strategy
                judged[(f"{budget:g}", label)] = _errors(load_profile(out), truth)
    for profile in profiles:
        judged[("profile", profile.id)] = _errors(profile, truth)
    if full is not None:
        judged[("full collection", full.id)] = _errors(full, truth)
    summary = pd.DataFrame([{"budget_s": budget, "strategy": strategy, **error_summary(errors)}
                            for (budget, strategy), errors in judged.items()])
    per_model = pd.DataFrame({f"{budget} {strategy}": errors for (budget, strategy), errors in judged.items()})
    per_model.insert(0, "end_to_end_ms", truth["end_to_end_ms"].to_numpy(float))
    per_model.insert(0, "model", [f"{row.model} b{row.batch_size}" for row in truth.itertuples()])
    return summary, per_model


def _errors(profile: Profile, truth: pd.DataFrame) -> pd.Series:
    """Each unseen graph's whole-model error (%) through `estimate` with `profile`."""
    root = Path(__file__).resolve().parents[2]
    errors = []
    for row in truth.itertuples():
        report = estimate(root / str(row.path), profile, batch_size=int(row.batch_size))
        errors.append((report.totals.runtime_ms / row.end_to_end_ms - 1) * 100)
    return pd.Series(errors, dtype=float)
