"""How each unit of estimation (estimator.predict.units) is trained: one UnitTraining per Unit, registered once.

A profile of layers timed alone is validated on held-out zoo models, and its composition scales the layers'
isolated runtimes into their graph; one of kernels timed in context is validated on a fifth of its graphs held
out, and its composition is the run overhead plus the kernels. Training (estimator.train.profiles), the data
card and the evaluation ask `training_for(data.unit)` and branch on nothing else: another unit is one Unit in
UNITS and one UnitTraining in TRAINING.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from estimator.predict.composition import Composition, KernelComposition
from estimator.predict.models import LayerModels
from estimator.predict.units import KERNELS, LAYERS, Unit
from estimator.train.accuracy import whole_model_metrics
from estimator.train.comparison import write_evaluation
from estimator.train.composition import fit_composition, fit_power_scale, layer_sums
from estimator.train.data import TrainingData
from estimator.train.data_card import kernel_data_card, layer_data_card
from estimator.train.fitting import Fit
from estimator.train.graphs import fitted_composition, graph_table, held_out_graphs
from estimator.train.heldout import held_out_predictions, summarize_held_out
from estimator.train.kernel_evaluation import evaluate_kernel_profile

__all__ = ["KERNEL_TRAINING", "LAYER_TRAINING", "TRAINING", "UnitTraining", "Validation", "training_for"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Validation:
    """What held-out validation gives a profile: the manifest's validation.holdout and its 80% intervals."""

    holdout: dict[str, object]
    intervals: dict[str, object]  # layer type -> runtime_log_ratio [10th, 90th percentile], coverage, from


@dataclass(frozen=True)
class UnitTraining:
    """What training does differently for one unit; the final fit (fit_layer_models of the unit) is common."""

    unit: Unit
    # (data, test models, CatBoost params, a fit replacing the one from scratch) -> held-out metrics and intervals
    validate: Callable[[TrainingData, Sequence[str], dict | None, Fit | None], Validation]
    # (data, the models fitted on all of it) -> how its records compose into graphs (None: a plain sum)
    fit_composition: Callable[[TrainingData, LayerModels], Composition | KernelComposition | None]
    keeps_fusion_rules: bool  # the manifest keeps the device's fusion rules: the unit reads models through them
    described_as: str | None  # what a profile's default description says of the unit (None: nothing)
    data_card: Callable[[TrainingData], str]  # the data card's statistics section, as Markdown
    # (data folder, profile folder, CatBoost params, leave-one-out folds, NeuralPower folds too) -> evaluation.md
    evaluate: Callable[[Path, Path, dict | None, bool, bool], Path]


def _validate_layers(data: TrainingData, test_models: Sequence[str], params: dict | None,
                     fit: Fit | None) -> Validation:
    """The held-out zoo models among `test_models` (none: no validation), and intervals from their layers."""
    present = [m for m in test_models if m in data.model_names()]
    holdout: dict[str, object] = {}
    if present:
        logger.info("validating on held-out models %s ...", present)
        holdout = summarize_held_out(held_out_predictions(data, present, params, fit=fit))
        holdout["test_models"] = present
    intervals = {t: {"runtime_log_ratio": entry["runtime_log_ratio_q10_q90"], "coverage": 0.8,
                     "from": "held-out residuals log(measured / predicted), 10th and 90th percentiles"}
                 for t, entry in holdout.get("layers", {}).items()}
    return Validation(holdout, intervals)


def _validate_kernels(data: TrainingData, test_models: Sequence[str], params: dict | None,
                      fit: Fit | None) -> Validation:
    """A fifth of the training graphs held out (by a stable hash of their model name; `test_models` are not
    used): their whole-graph errors, and each layer type's 80% interval from the held-out kernels' residuals."""
    def held_out(graphs: pd.DataFrame) -> pd.Series:
        return graphs["model"].map(lambda name: zlib.crc32(str(name).encode()) % 5 == 0)

    logger.info("validating on a fifth of the graphs, held out ...")
    split = held_out_graphs(data, held_out, params=params, fit=fit)
    kernels = split.kernels[split.kernels["runtime_ms"].notna()]
    intervals = {}
    for layer_type, part in kernels.groupby("layer_type"):
        ratio = np.log(part["runtime_ms"] / part["predicted_ms"])
        intervals[layer_type] = {"runtime_log_ratio": [float(ratio.quantile(0.10)), float(ratio.quantile(0.90))],
                                 "coverage": 0.8, "from": "held-out kernels: log(measured / predicted), "
                                                          "10th and 90th percentiles"}
    graphs = split.graphs
    holdout = {"models": whole_model_metrics(graphs["predicted_error_pct"]),
               "families": {family: whole_model_metrics(part["predicted_error_pct"])
                            for family, part in graphs.groupby(_held_out_family(graphs), sort=True)},
               "test_models": sorted(graphs["model"].unique().tolist())}
    return Validation(holdout, intervals)


def _held_out_family(graphs: pd.DataFrame) -> pd.Series:
    """Each graph's family: its generator family, or its source (zoo, unseen) for exported models."""
    family = graphs["family"] if "family" in graphs.columns else pd.Series(None, index=graphs.index, dtype=object)
    return family.where(family.notna() & (family.astype(str) != ""), graphs["source"]).astype(str)


def _layer_composition(data: TrainingData, models: LayerModels) -> Composition | None:
    """Group scales (and the power scale) from the models measured end to end; None without models.csv."""
    if data.models is None:
        return None
    return fit_power_scale(data.frames, data.models,
                           fit_composition(layer_sums(data.frames, data.models), data.call_overhead_ms))


def _kernel_composition(data: TrainingData, models: LayerModels) -> KernelComposition:
    return fitted_composition(models, data.frames, graph_table(data))


def _evaluate_layers(data_path: Path, profile_dir: Path, params: dict | None, lomo: bool,
                     lomo_neuralpower: bool) -> Path:
    return write_evaluation(data_path, profile_dir, lomo=lomo, lomo_neuralpower=lomo_neuralpower, params=params)


def _evaluate_kernels(data_path: Path, profile_dir: Path, params: dict | None, lomo: bool,
                      lomo_neuralpower: bool) -> Path:
    """Leave-one-family-out always, leave-one-model-out over the zoo when `lomo`; NeuralPower is a baseline of layers
    only."""
    return evaluate_kernel_profile(data_path, profile_dir, params=params, zoo_models=lomo)


LAYER_TRAINING = UnitTraining(LAYERS, _validate_layers, _layer_composition, keeps_fusion_rules=False,
                              described_as=None, data_card=layer_data_card, evaluate=_evaluate_layers)
KERNEL_TRAINING = UnitTraining(KERNELS, _validate_kernels, _kernel_composition, keeps_fusion_rules=True,
                               described_as="kernels timed in context", data_card=kernel_data_card,
                               evaluate=_evaluate_kernels)
TRAINING: dict[str, UnitTraining] = {training.unit.name: training for training in (LAYER_TRAINING, KERNEL_TRAINING)}


def training_for(unit: Unit) -> UnitTraining:
    """How `unit` is trained (every unit in estimator.predict.units.UNITS has one here)."""
    return TRAINING[unit.name]
