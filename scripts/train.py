#!/usr/bin/env python3
"""Train a profile (CatBoost models + profile.json) from a training-data folder.

Reads training_data/<device-id>/ (or a folder in the seed's layout: <model>/{convolutional,
pooling,dense}.csv), validates on held-out models (default: the seed's lenet, resnet18, vgg16;
sweep rows always train), then fits the final models on all rows and writes the profile.

Example:
  python scripts/train.py training_data/cpu-epyc-1thread --profile-id cpu-epyc-1thread
"""

from __future__ import annotations

import argparse
from pathlib import Path

from estimator.commands import configure_logging, run_command
from estimator.predict.profiles import PROFILE_DIR
from estimator.train.heldout import SEED_TEST_MODELS
from estimator.train.profiles import train_profile


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, help="training-data folder")
    parser.add_argument("--profile-id", help="profile id (default: the folder's name)")
    parser.add_argument("--out", type=Path, help="profile folder (default: estimator/profiles/<profile-id>)")
    parser.add_argument("--description", help="one line naming the device and how it was measured")
    parser.add_argument("--test-models", nargs="*", default=list(SEED_TEST_MODELS),
                        help="models held out for the reported test figures (default: lenet resnet18 vgg16)")
    parser.add_argument("--iterations", type=int, help="CatBoost iterations (default 600)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging()
    return run_command("train", lambda: _train(args))


def _train(args: argparse.Namespace) -> int:
    profile_id = args.profile_id or args.data.resolve().name
    out = args.out or PROFILE_DIR / profile_id
    params = {"iterations": args.iterations} if args.iterations else None
    manifest = train_profile(args.data, out, profile_id, args.description, args.test_models, params)
    models = manifest["validation"]["holdout"].get("models", {})
    print(f"wrote {out}: held-out whole-model runtime MAPE {models.get('runtime_mape', float('nan')):.1f}%, "
          f"{models.get('runtime_within_10_pct', float('nan')):.0f}% of pairs within ±10%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
