"""Side-by-side comparison of a profile's approach with the baselines, split by model, and its evaluation.md."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from estimator.files import write_atomic
from estimator.train.accuracy import layer_metrics, share_within
from estimator.train.baselines import MacsBaseline, NeuralPowerBaseline
from estimator.train.data import TrainingData, load_training_data
from estimator.train.heldout import SEED_TEST_MODELS, held_out_predictions, split_by_model
from estimator.train.tables import markdown_table

__all__ = ["METHODS", "evaluate_split", "layer_table", "leave_one_model_out", "model_table", "write_evaluation"]

logger = logging.getLogger(__name__)

METHODS = ("ours", "neuralpower", "macs")
SEED_TYPES = ("convolutional", "pooling", "dense")


def evaluate_split(data: TrainingData, test_models: list[str], params: dict | None = None,
                   neuralpower: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-layer and per-model predictions of every method for the held-out `test_models`."""
    ours = held_out_predictions(data, test_models, params)
    train, test = split_by_model(data, test_models)
    parts = []
    for layer_type, frame in test.items():
        if frame.empty:
            continue
        mine = ours.layers[ours.layers["layer_type"] == layer_type].reset_index(drop=True)
        part = mine.rename(columns={"predicted_runtime_ms": "ours", "predicted_power_w": "ours_power"})
        train_frame = train[layer_type]
        part["macs"] = MacsBaseline(layer_type).fit(train_frame, train_frame["runtime_ms"]).predict(frame)
        part["neuralpower"] = np.nan
        part["neuralpower_power"] = np.nan
        if neuralpower and layer_type in SEED_TYPES:
            baseline = NeuralPowerBaseline(layer_type, "runtime").fit(train_frame, train_frame["runtime_ms"].to_numpy())
            part["neuralpower"] = baseline.predict(frame)
            powered = train_frame["power_w"].notna()
            if powered.sum() >= 20:
                power = NeuralPowerBaseline(layer_type, "power").fit(train_frame[powered],
                                                                     train_frame.loc[powered, "power_w"].to_numpy())
                part["neuralpower_power"] = power.predict(frame)
        parts.append(part)
    layers = pd.concat(parts, ignore_index=True)
    def total(values: pd.Series) -> float:
        return values.sum(min_count=1)  # a baseline not fitted for this split stays missing, not 0 ms

    sums = layers.groupby(["model", "batch_size"], as_index=False).agg(
        neuralpower_ms=("neuralpower", total), macs_ms=("macs", total), ours_isolated_ms=("ours", total))
    models = ours.models.merge(sums, on=["model", "batch_size"], how="left")
    return layers, models


def layer_table(layers: pd.DataFrame, target: str = "runtime") -> pd.DataFrame:
    """Metrics per layer type and method (plus all seed types pooled)."""
    actual_column = "runtime_ms" if target == "runtime" else "power_w"
    suffix = "" if target == "runtime" else "_power"
    rows = []
    groups = [(t, layers[layers["layer_type"] == t]) for t in sorted(layers["layer_type"].unique())]
    groups.append(("conv+pool+dense", layers[layers["layer_type"].isin(SEED_TYPES)]))
    for name, part in groups:
        for method in METHODS:
            column = method + suffix
            if column not in part.columns:
                continue
            valid = part[actual_column].notna() & part[column].notna()
            if not valid.any():
                continue
            rows.append({"layer_type": name, "method": method,
                         **layer_metrics(part.loc[valid, actual_column], part.loc[valid, column])})
    return pd.DataFrame(rows)


def model_table(models: pd.DataFrame) -> pd.DataFrame:
    """Whole-model runtime errors (%) of each method's sum of layers against the measured end to end."""
    table = models[["model", "batch_size", "end_to_end_ms", "predicted_ms", "neuralpower_ms", "macs_ms"]].copy()
    for column, label in (("predicted_ms", "ours"), ("neuralpower_ms", "neuralpower"), ("macs_ms", "macs")):
        table[f"{label}_error_pct"] = (table[column] / table["end_to_end_ms"] - 1) * 100
    if "energy_mj" in models and models["energy_mj"].notna().any():
        table["energy_mj"] = models["energy_mj"]
        table["ours_energy_mj"] = models["predicted_energy_mj"]
        table["ours_energy_error_pct"] = models["energy_error_pct"]
    return table.sort_values(["model", "batch_size"], ignore_index=True)


def leave_one_model_out(data: TrainingData, params: dict | None = None,
                        neuralpower: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """evaluate_split with each zoo model held out in turn; layers and models concatenated."""
    layer_parts, model_parts = [], []
    for name in tqdm(data.model_names(), desc="leave-one-model-out", unit="model"):
        fold_layers, fold_models = evaluate_split(data, [name], params, neuralpower=neuralpower)
        layer_parts.append(fold_layers)
        model_parts.append(fold_models)
    return pd.concat(layer_parts, ignore_index=True), pd.concat(model_parts, ignore_index=True)


def write_evaluation(data_path: str | Path, profile_dir: str | Path, lomo: bool = True,
                     lomo_neuralpower: bool = False, params: dict | None = None) -> Path:
    """Compare with the baselines on the seed split (and leave-one-model-out); write evaluation.md and .json."""
    started = time.monotonic()
    data_path, profile_dir = Path(data_path), Path(profile_dir)
    data = load_training_data(data_path)
    names = data.model_names()
    logger.info("seed test split %s ...", list(SEED_TEST_MODELS))
    results = {"seed_split": evaluate_split(data, [m for m in SEED_TEST_MODELS if m in names], params)}
    if lomo:
        results["lomo"] = leave_one_model_out(data, params, neuralpower=lomo_neuralpower)

    document: dict[str, object] = {"data": str(data_path), "fingerprint": data.fingerprint}
    text = [f"# Evaluation: {profile_dir.name}", "",
            f"Training data: `{data_path}` (fingerprint {data.fingerprint}). Split by model, never by row; sweep rows "
            "are training data only. RMSPE, MAPE and 'within' are in %. 'ours' whole-model figures compose layers as "
            "the profile does (profile.json `composition`); the baselines are plain sums of their layer predictions.",
            ""]
    for key, title in (("seed_split", "Seed test models held out (lenet, resnet18, vgg16)"),
                       ("lomo", "Leave-one-model-out over the zoo")):
        if key not in results:
            continue
        fold_layers, fold_models = results[key]
        section, lines = _section(title, fold_layers, fold_models)
        document[key] = section
        text += lines
    text.append(f"Evaluation took {time.monotonic() - started:.0f} s.")
    write_atomic(profile_dir / "evaluation.md", "\n".join(text) + "\n")
    write_atomic(profile_dir / "evaluation.json", json.dumps(document, indent=2, default=float) + "\n")
    return profile_dir / "evaluation.md"


def _section(title: str, layers: pd.DataFrame, models: pd.DataFrame) -> tuple[dict[str, object], list[str]]:
    runtime = layer_table(layers, "runtime")
    whole = model_table(models)
    unseen = layer_table(layers[~layers["seen_in_training"]], "runtime")
    section = {"layers_runtime": runtime.to_dict("records"), "models": whole.to_dict("records"),
               "rmspe_reduction_vs_neuralpower_pct": _reduction(runtime), "models_within_10_pct": _within(whole),
               "layers_runtime_unseen_configurations": unseen.to_dict("records")}
    text = [f"## {title}", "", "### Per-layer runtime", "", markdown_table(runtime), "",
            "### Per-layer runtime, configurations never measured for a training model", "",
            f"Held-out layers whose exact configuration also occurs in a training model (e.g. VGG-16's convs "
            f"in VGG-13/19) are easy; {int((~layers['seen_in_training']).sum())} of {len(layers)} "
            "held-out layers are not, and these are the figures for them alone:", "", markdown_table(unseen), ""]
    if layers["power_w"].notna().any():
        power = layer_table(layers, "power")
        section["layers_power"] = power.to_dict("records")
        text += ["### Per-layer power", "", markdown_table(power), ""]
    reduction = _reduction(runtime)
    versus = (f"Per-layer runtime RMSPE (conv+pool+dense pooled) is {reduction:.1f}% lower than the NeuralPower-style "
              "baseline; " if np.isfinite(reduction) else "The NeuralPower-style baseline was not fitted for this split; ")
    energy = ""
    if "ours_energy_error_pct" in whole.columns and whole["ours_energy_error_pct"].notna().any():
        errors = whole["ours_energy_error_pct"].abs()
        section["models_energy_mape_pct"] = float(errors.mean())
        energy = (f" Whole-model energy (in-graph power x in-graph runtime, summed) against the measured energy: MAPE "
                  f"{errors.mean():.1f}%, median |error| {errors.median():.1f}%, {share_within(errors):.0f}% of "
                  "pairs within ±10%.")
    text += ["### Whole model: sum of layers vs measured end to end (ms, error %)", "", markdown_table(whole, 2), "",
             f"{versus}{_within(whole):.0f}% of held-out model/batch pairs are within ±10% of the measured "
             f"end-to-end runtime.{energy}", ""]
    return section, text




def _reduction(table: pd.DataFrame) -> float:
    pooled = table[table["layer_type"] == "conv+pool+dense"].set_index("method")["rmspe"]
    return float((1 - pooled["ours"] / pooled["neuralpower"]) * 100) if "neuralpower" in pooled else float("nan")


def _within(models: pd.DataFrame) -> float:
    return share_within(models["ours_error_pct"].abs())
