#!/usr/bin/env python3
"""Evaluate a profile's approach on data it never saw; write evaluation.md and evaluation.json into the profile.

Kernels timed in context: leave-one-model-out over the zoo, leave-one-family-out over generated
networks, and the profile through `estimate` on the unseen models (training_data/unseen).
Layers timed alone: the seed's test split (lenet, resnet18, vgg16 held out; sweep rows always
train) and leave-one-model-out over the zoo, against the NeuralPower-style and MACs baselines
(the `eval` extra, scikit-learn, for the NeuralPower-style one).

Example:
  python scripts/evaluate.py training_data/cpu-epyc-1thread estimator/profiles/cpu-epyc-1thread
"""

from __future__ import annotations

import argparse
from pathlib import Path

from estimator.commands import configure_logging, run_command
from estimator.train.data import load_training_data
from estimator.train.units import training_for


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, help="training-data folder")
    parser.add_argument("profile", type=Path, help="profile folder to write evaluation.md/json into")
    parser.add_argument("--no-lomo", action="store_true",
                        help="skip leave-one-model-out over the zoo (kernel profiles: leave-one-family-out still runs)")
    parser.add_argument("--lomo-neuralpower", action="store_true",
                        help="also fit the NeuralPower baseline for every LOMO fold (slow)")
    parser.add_argument("--iterations", type=int, help="CatBoost iterations (default: as in training)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging()
    params = {"iterations": args.iterations} if args.iterations else None

    def evaluate() -> int:
        training = training_for(load_training_data(args.data).unit)
        written = training.evaluate(args.data, args.profile, params, not args.no_lomo, args.lomo_neuralpower)
        print(f"wrote {written}")
        return 0

    return run_command("evaluate", evaluate)


if __name__ == "__main__":
    raise SystemExit(main())
