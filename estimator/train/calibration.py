"""The training half of estimate-calibrate: a transfer profile, and what each minute of measuring bought.

The curve trains on the generated graphs measured in the first B seconds of the calibration (every B
up to its whole budget, and B = 0: the base profile alone) with each transfer strategy, and judges
them on the calibration's zoo models, which no curve point trains on. It goes into the profile's
evaluation.md, so a user sees what more time would buy on their machine.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from estimator.files import DEVICE_FILE, write_atomic, write_csv_atomic
from estimator.predict.models import LayerModels
from estimator.predict.profiles import Profile
from estimator.train.accuracy import error_summary
from estimator.train.composition import fit_kernel_composition
from estimator.train.data import TrainingData, load_training_data
from estimator.train.graphs import GRAPH_KEY, compose_graphs, graph_predictions, graph_table, rows_of_graphs
from estimator.train.tables import markdown_table
from estimator.train.transfer import STRATEGIES, fit_transfer

__all__ = ["BUDGETS_S", "JUDGED_ZOO", "budget_curve", "copy_prefix", "elapsed_s", "write_calibration_evaluation"]

BUDGETS_S = (60, 150, 300, 600, 1200)
# The calibration's zoo models that judge the curve: no curve point trains on them.
JUDGED_ZOO = ("resnet18", "mobilenet_v2", "mobilenet_v3_small", "googlenet", "resnet50")


def budget_curve(data: TrainingData, base: Profile, budgets: tuple[float, ...] = BUDGETS_S,
                 strategies: tuple[str, ...] = STRATEGIES) -> pd.DataFrame:
    """Errors on the judged zoo models of profiles trained on every other graph measured in the first B
    seconds, per strategy."""
    graphs = graph_table(data)
    elapsed = elapsed_s(graphs)
    judged = (graphs["source"] == "zoo") & graphs["model"].isin(JUDGED_ZOO)
    test = graphs[judged]
    test_frames = _frames_of(data, test)
    rows = [{"budget_s": 0, "strategy": "base profile only", "graphs": 0,
             **_judge(base.models, base_composition(base, graphs), test_frames, test)}]
    for budget in [b for b in budgets if b <= elapsed.max() + 1e-9]:
        train = graphs[~judged & (elapsed <= budget)]
        if len(train) < 3:
            continue
        frames = _frames_of(data, train)
        composition = fit_kernel_composition(train)
        for strategy in strategies:
            models = fit_transfer(frames, base.models, strategy)
            rows.append({"budget_s": budget, "strategy": strategy, "graphs": len(train),
                         **_judge(models, composition, test_frames, test)})
    return pd.DataFrame(rows)


def base_composition(base: Profile, graphs: pd.DataFrame):
    """The base profile's composition, its overheads refitted on this machine's graphs when there are enough."""
    from estimator.predict.composition import KernelComposition

    fitted = fit_kernel_composition(graphs) if len(graphs) >= 3 else None
    return fitted or KernelComposition.from_dict(base.manifest["composition"])


def write_calibration_evaluation(data_path: str | Path, profile_dir: Path, manifest: dict, base: Profile, strategy: str,
                                 strategies: tuple[str, ...] = STRATEGIES) -> Path:
    """evaluation.md / .json of a calibrated profile (`manifest`: its profile.json, as train_profile returned it): the
    budget curve (for `strategies`), the strategy chosen and the profile's held-out graphs by family."""
    data = load_training_data(data_path)
    curve = budget_curve(data, base, strategies=strategies)
    document = {"data": str(data_path), "base_profile": base.id, "strategy": strategy,
                "curve": curve.to_dict("records")}
    text = [f"# Evaluation: {profile_dir.name} (calibrated on this machine)", "",
            f"Transfer from `{base.id}` by '{strategy}'. Each row trains on every graph measured in the first "
            f"`budget_s` seconds of this calibration except {', '.join(JUDGED_ZOO)} at batch 1, and is judged on "
            "those (never trained on by any row; the profile itself trains on everything). Errors are "
            "(predicted / measured - 1) of the end-to-end latency, in %.", "",
            markdown_table(curve, 1), ""]
    compared = _strategies_compared(manifest)
    if compared is not None:
        document["strategies_held_out"] = compared.to_dict("records")
        text += ["## Which strategy", "",
                 f"'{strategy}' had the lowest mean |error| on the held-out fifth of this calibration's graphs "
                 "(below), each strategy trained on the other four fifths.", "", markdown_table(compared, 1), ""]
    families = _held_out_families(manifest)
    if families is not None:
        document["held_out_families"] = families.to_dict("records")
        text += ["## Held-out graphs by family", "",
                 "The profile's own validation: a fifth of this calibration's graphs (chosen by a hash of the model "
                 "name) predicted by a profile trained, the same way, on the other four fifths. One row per "
                 "generator family (zoo: the exported models).", "", markdown_table(families, 1), ""]
    write_atomic(profile_dir / "evaluation.md", "\n".join(text) + "\n")
    write_atomic(profile_dir / "evaluation.json", json.dumps(document, indent=2, default=float) + "\n")
    return profile_dir / "evaluation.md"


def _strategies_compared(manifest: dict) -> pd.DataFrame | None:
    """The held-out whole-graph errors of each strategy the calibration compared (None: it trained with one, or
    there were no held-out graphs)."""
    compared = (manifest.get("origin") or {}).get("strategies_held_out") or {}
    return _metrics_table("strategy", compared) if len(compared) >= 2 and all(compared.values()) else None


def _held_out_families(manifest: dict) -> pd.DataFrame | None:
    """The per-family held-out errors the manifest's validation holds (None: a profile trained without them)."""
    families = (((manifest.get("validation") or {}).get("holdout") or {}).get("families")) or {}
    return _metrics_table("family", families) if families else None


def _metrics_table(name: str, metrics: dict[str, dict]) -> pd.DataFrame:
    """One row per entry of whole-graph held-out metrics (estimator.train.accuracy.whole_model_metrics)."""
    return pd.DataFrame([{name: key, "graphs": entry["pairs"], "within_10_pct": entry["runtime_within_10_pct"],
                          "mean_abs_pct": entry["runtime_mape"], "max_abs_pct": entry["runtime_max_abs_error_pct"]}
                         for key, entry in metrics.items()])


def elapsed_s(graphs: pd.DataFrame) -> pd.Series:
    """Seconds from the first graph's measurement to each graph's (measured_at, UTC)."""
    times = graphs["measured_at"].map(datetime.fromisoformat)
    return (times - times.min()).dt.total_seconds()


def _frames_of(data: TrainingData, graphs: pd.DataFrame) -> dict[str, pd.DataFrame]:
    keys = set(map(tuple, graphs[GRAPH_KEY].to_numpy().tolist()))
    return {layer_type: rows_of_graphs(frame, keys) for layer_type, frame in data.frames.items()}


def _judge(models: LayerModels, composition, frames: dict[str, pd.DataFrame], graphs: pd.DataFrame) -> dict:
    composed = compose_graphs(graph_predictions(models, composition, frames), graphs, composition)
    if composed.empty:
        return {"n": 0}
    errors = composed["predicted_error_pct"]
    summary = error_summary(errors)
    summary["mean_signed_pct"] = float(np.mean(errors))
    return summary


def copy_prefix(calibration: Path, budget_s: float, out: Path) -> Path:
    """A copy of a calibration's training folder with only the graphs measured in its first `budget_s` seconds."""
    calibration, out = Path(calibration), Path(out)
    models = pd.read_csv(calibration / "models.csv")
    kept = models[elapsed_s(models) <= budget_s]
    keys = set(map(tuple, kept[GRAPH_KEY].to_numpy().tolist()))
    for csv in calibration.glob("*/*.csv"):
        frame = pd.read_csv(csv)
        if {"model", "graph_batch_size"} <= set(frame.columns):
            frame = rows_of_graphs(frame, keys)
        if not frame.empty:
            write_csv_atomic(out / csv.parent.name / csv.name, frame)
    write_csv_atomic(out / "models.csv", kept)
    write_atomic(out / DEVICE_FILE, (calibration / DEVICE_FILE).read_text())  # a copy, byte for byte
    return out
