#!/usr/bin/env python3
"""Evaluate a profile's approach against the NeuralPower-style and MACs baselines, split by model.

Runs the seed's test split (lenet, resnet18, vgg16 held out; sweep rows always train) and
leave-one-model-out over the zoo, for runtime (and power where measured), and writes
evaluation.md and evaluation.json into the profile folder. Needs the `eval` extra
(scikit-learn) for the NeuralPower-style baseline.

Example:
  python scripts/evaluate.py training_data/cpu-epyc-1thread estimator/profiles/cpu-epyc-1thread
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from estimator.dataset import load_training_data  # noqa: E402
from estimator.errors import EstimatorError  # noqa: E402
from estimator.evaluation import evaluate_split, layer_table, model_table  # noqa: E402
from estimator.measure.store import write_atomic  # noqa: E402
from estimator.training import SEED_TEST_MODELS  # noqa: E402


def _markdown(frame: pd.DataFrame, digits: int = 1) -> str:
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---:" if pd.api.types.is_numeric_dtype(frame[c]) else "---" for c in frame.columns) + "|"
    lines = [header, rule]
    for row in frame.itertuples(index=False):
        cells = []
        for value in row:
            if isinstance(value, float):
                cells.append("" if pd.isna(value) else f"{value:.{digits}f}")
            else:
                cells.append(str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _reduction(table: pd.DataFrame) -> float:
    pooled = table[table["layer_type"] == "conv+pool+dense"].set_index("method")["rmspe"]
    return float((1 - pooled["ours"] / pooled["neuralpower"]) * 100) if "neuralpower" in pooled else float("nan")


def _within(models: pd.DataFrame) -> float:
    return float((models["ours_error_pct"].abs() <= 10).mean() * 100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, help="training-data folder")
    parser.add_argument("profile", type=Path, help="profile folder to write evaluation.md/json into")
    parser.add_argument("--no-lomo", action="store_true", help="skip leave-one-model-out")
    parser.add_argument("--lomo-neuralpower", action="store_true",
                        help="also fit the NeuralPower baseline for every LOMO fold (slow)")
    parser.add_argument("--iterations", type=int, help="CatBoost iterations (default: as in training)")
    args = parser.parse_args(argv)
    params = {"iterations": args.iterations} if args.iterations else None
    started = time.monotonic()
    try:
        data = load_training_data(args.data)
        names = data.model_names()
        print(f"seed test split {list(SEED_TEST_MODELS)} ...", flush=True)
        layers, models = evaluate_split(data, [m for m in SEED_TEST_MODELS if m in names], params)
        results = {"seed_split": (layers, models)}
        if not args.no_lomo:
            parts_l, parts_m = [], []
            for position, name in enumerate(names, 1):
                print(f"leave-one-model-out {position}/{len(names)}: {name}", flush=True)
                fold_layers, fold_models = evaluate_split(data, [name], params, neuralpower=args.lomo_neuralpower)
                parts_l.append(fold_layers)
                parts_m.append(fold_models)
            results["lomo"] = (pd.concat(parts_l, ignore_index=True), pd.concat(parts_m, ignore_index=True))
    except EstimatorError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    document: dict[str, object] = {"data": str(args.data), "fingerprint": data.fingerprint}
    text = [f"# Evaluation: {args.profile.name}", "",
            f"Training data: `{args.data}` (fingerprint {data.fingerprint}). Split by model, never by row; sweep rows "
            "are training data only. RMSPE, MAPE and 'within' are in %. 'ours' whole-model figures compose layers as "
            "the profile does (profile.json `composition`); the baselines are plain sums of their layer predictions.",
            ""]
    for key, title in (("seed_split", "Seed test models held out (lenet, resnet18, vgg16)"),
                       ("lomo", "Leave-one-model-out over the zoo")):
        if key not in results:
            continue
        fold_layers, fold_models = results[key]
        runtime = layer_table(fold_layers, "runtime")
        whole = model_table(fold_models)
        section = {"layers_runtime": runtime.to_dict("records"), "models": whole.to_dict("records"),
                   "rmspe_reduction_vs_neuralpower_pct": _reduction(runtime),
                   "models_within_10_pct": _within(whole)}
        unseen = layer_table(fold_layers[~fold_layers["seen_in_training"]], "runtime")
        section["layers_runtime_unseen_configurations"] = unseen.to_dict("records")
        text += [f"## {title}", "", "### Per-layer runtime", "", _markdown(runtime), "",
                 "### Per-layer runtime, configurations never measured for a training model", "",
                 f"Held-out layers whose exact configuration also occurs in a training model (e.g. VGG-16's convs "
                 f"in VGG-13/19) are easy; {int((~fold_layers['seen_in_training']).sum())} of {len(fold_layers)} "
                 "held-out layers are not, and these are the figures for them alone:", "", _markdown(unseen), ""]
        if fold_layers["power_w"].notna().any():
            power = layer_table(fold_layers, "power")
            section["layers_power"] = power.to_dict("records")
            text += ["### Per-layer power", "", _markdown(power), ""]
        text += ["### Whole model: sum of layers vs measured end to end (ms, error %)", "", _markdown(whole, 2), "",
                 f"Per-layer runtime RMSPE (conv+pool+dense pooled) is {_reduction(runtime):.1f}% lower than the "
                 f"NeuralPower-style baseline; {_within(whole):.0f}% of held-out model/batch pairs are within ±10% "
                 "of the measured end-to-end runtime.", ""]
        document[key] = section
    text.append(f"Evaluation took {time.monotonic() - started:.0f} s.")
    write_atomic(args.profile / "evaluation.md", "\n".join(text) + "\n")
    write_atomic(args.profile / "evaluation.json", json.dumps(document, indent=2, default=float) + "\n")
    print(f"wrote {args.profile / 'evaluation.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
