"""Transfer from a base profile: fit a few minutes of this machine's measurements on top of another machine's models.

Three ways, compared in estimate-calibrate's evaluation by accuracy per minute of measuring:
- "continue": CatBoost boosting continues from the base profile's trees (init_model), so the
  new trees learn this machine's corrections; the saved model stands alone;
- "scratch": fit on this machine's rows only;
- "scale": the base models times one fitted factor per layer type.
"auto" (estimate-calibrate's default) validates "continue" and "scratch" on the same held-out fifth of this
machine's graphs and keeps the nearer: a base profile is a good prior for the kernels it was trained on and a poor
one for those it never saw (from a Zen 2 base without attention, continued boosting on 600 s of a Zen 4 put
Whisper's encoder and a 1,024-token BERT 15% fast, a fit from scratch on the same rows within 4%; on the modern
exports after 600 s and after 60 s, scratch 88% within ±10% both times, continue 76% and 68%: README).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from catboost import CatBoostRegressor, Pool

from estimator.predict.models import LayerModels, baseline_log_ms, predict_layer_frame, scored_columns
from estimator.predict.profiles import Profile
from estimator.train.data import TrainingData, load_training_data
from estimator.train.fitting import CATBOOST_PARAMS, MIN_ROWS, Fit, fit_layer_models
from estimator.train.profiles import measured_layer_kinds, train_profile
from estimator.train.units import Validation, training_for
from graph.schema import LAYER_TYPES

__all__ = ["AUTO", "AUTO_CANDIDATES", "CARRIES_BASE", "CHOICES", "STRATEGIES", "TRANSFER_PARAMS", "TransferChoice",
           "choose_transfer", "fit_transfer", "train_transferred", "transfer_fit"]

STRATEGIES = ("continue", "scratch", "scale")
AUTO = "auto"
AUTO_CANDIDATES = ("continue", "scratch")  # in order of preference on a tie ("scale" was the worst in every study)
CHOICES = (AUTO, *STRATEGIES)
CARRIES_BASE = frozenset({"continue", "scale"})  # their models keep the base's trees, and so its layer kinds
# Continued boosting: fewer, smaller steps than a fit from scratch, so a few hundred rows correct the base
# without forgetting what it learned from many thousands.
TRANSFER_PARAMS: dict[str, object] = {"iterations": 300, "learning_rate": 0.05}


def fit_transfer(frames: dict[str, pd.DataFrame], base: LayerModels, strategy: str = "continue",
                 params: dict[str, object] | None = None) -> LayerModels:
    """Models for this machine from its rows (`frames`) and a base profile's models, of the base's unit (kernels)."""
    if strategy == "scratch" or not base.runtime:
        return fit_layer_models(frames, params, base.unit)
    settings = {**CATBOOST_PARAMS, **TRANSFER_PARAMS, **(params or {})}
    models = LayerModels(unit=base.unit)
    for layer_type in LAYER_TYPES:
        frame = frames.get(layer_type)
        base_model = base.runtime.get(layer_type)
        measured = frame[frame["runtime_ms"].notna()] if frame is not None else None
        if base_model is None:
            continue
        if layer_type in base.baselines:
            models.baselines[layer_type] = base.baselines[layer_type]
        if measured is None or len(measured) < MIN_ROWS:
            models.runtime[layer_type] = base_model  # nothing measured here to correct it with
            continue
        if strategy == "scale":
            ratio = np.log(measured["runtime_ms"].to_numpy(float)) - np.log(
                predict_layer_frame(base, measured, layer_type)["runtime_ms"].to_numpy(float))
            models.runtime[layer_type] = _shifted(base_model, float(np.median(ratio)))
            continue
        features = scored_columns(base_model, base.unit.featurize(measured, layer_type))  # the base's own columns
        target = np.log(measured["runtime_ms"].to_numpy(float))
        if layer_type in base.baselines:  # continued trees learn what the base trees learnt: log runtime - baseline
            target = target - baseline_log_ms(base.baselines[layer_type], features)
        model = CatBoostRegressor(**settings)
        categorical = [c for c in base.unit.categorical[layer_type] if c in features.columns]
        model.fit(Pool(features, target, cat_features=categorical), init_model=base_model)
        models.runtime[layer_type] = model

    return models


def _shifted(model: CatBoostRegressor, log_shift: float) -> CatBoostRegressor:
    """A copy of `model` whose predictions (log ms) are `log_shift` higher: the base x exp(log_shift)."""
    shifted = model.copy()
    scale, bias = shifted.get_scale_and_bias()
    shifted.set_scale_and_bias(scale, bias + log_shift)
    return shifted


@dataclass(frozen=True)
class TransferChoice:
    """The strategy a calibration trains with, and each compared strategy's validation on the held-out graphs."""

    strategy: str
    validations: dict[str, Validation]

    def held_out(self) -> dict[str, dict[str, float]]:
        """Per strategy compared, its held-out whole-graph metrics (mean |error|, share within ±10%, ...)."""
        return {name: dict(validation.holdout.get("models") or {}) for name, validation in self.validations.items()}


def transfer_fit(base: LayerModels, strategy: str) -> Fit:
    """The fit of `strategy` from `base`, as train_profile takes it."""
    return lambda frames: fit_transfer(frames, base, strategy)


def choose_transfer(data: TrainingData, base: Profile, strategy: str = AUTO) -> TransferChoice:
    """`strategy` with its validation; AUTO: each of AUTO_CANDIDATES validated on the same held-out fifth of the
    graphs, and the one with the lowest mean |error| of whole graphs kept ("continue" on a tie or without held-out
    graphs). "scratch" is a candidate only where this machine's rows cover every layer kind of the base: otherwise
    a kind the calibration did not time would lose its model."""
    if strategy != AUTO:
        return TransferChoice(strategy, {strategy: _validate(data, base, strategy)})
    covered = set(base.manifest.get("layer_kinds") or []) <= set(measured_layer_kinds(data) or [])
    candidates = [name for name in AUTO_CANDIDATES if name in CARRIES_BASE or covered]
    validations = {name: _validate(data, base, name) for name in candidates}
    chosen = min(candidates, key=lambda name: (_held_out_error(validations[name]), candidates.index(name)))
    return TransferChoice(chosen, validations)


def train_transferred(data_path: str | Path, out_dir: str | Path, profile_id: str, base: Profile, strategy: str = AUTO,
                      description: str | None = None, origin: dict[str, object] | None = None) -> dict:
    """Write a profile of `data_path` transferred from `base` by `strategy` (AUTO: choose_transfer's choice), as
    estimate-calibrate writes it: the base's layer kinds and feature ranges kept only by a strategy that keeps its
    trees, and `origin` (plus the base, the strategy asked and chosen, each candidate's held-out figures) in its
    manifest, which is returned."""
    data = load_training_data(data_path)
    choice = choose_transfer(data, base, strategy)
    origin = {"kind": "calibrated", **(origin or {}), "base_profile": base.id, "strategy": choice.strategy,
              "strategy_asked": strategy, "strategies_held_out": choice.held_out()}
    return train_profile(data, out_dir, profile_id, description, fit=transfer_fit(base.models, choice.strategy),
                         origin=origin, base_manifest=base.manifest if choice.strategy in CARRIES_BASE else None,
                         validation=choice.validations[choice.strategy])


def _validate(data: TrainingData, base: Profile, strategy: str) -> Validation:
    return training_for(data.unit).validate(data, (), None, transfer_fit(base.models, strategy))


def _held_out_error(validation: Validation) -> float:
    error = (validation.holdout.get("models") or {}).get("runtime_mape")
    return float(error) if error is not None and np.isfinite(error) else float("inf")
