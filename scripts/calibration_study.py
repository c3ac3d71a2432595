#!/usr/bin/env python3
"""How accuracy grows with calibration time: profiles trained on the first B seconds of a calibration,
judged on unseen models timed on the same machine with the same threads, beside a full collection.

Reads a calibration's training folder (estimate-calibrate keeps it in the user's data folder), the
folder of an evaluation-only collection of unseen models (scripts/collect.py --unseen ... with the
same --threads), the base profile and optionally a full collection's profile; writes a Markdown table.

Example:
  python scripts/calibration_study.py ~/.local/share/onnx-cost-estimator/training_data/amd-epyc-2t-20261128 \\
      training_data/unseen-t2 --full estimator/profiles/full-t2 --out study.md
"""

from __future__ import annotations

import argparse
from pathlib import Path

from estimator.commands import configure_logging, run_command
from estimator.files import write_atomic
from estimator.predict.profiles import DEFAULT_PROFILE, load_profile
from estimator.train.calibration import BUDGETS_S
from estimator.train.study import calibration_study
from estimator.train.tables import markdown_table


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("calibration", type=Path, help="a calibration's training-data folder")
    parser.add_argument("unseen", type=Path, help="a collection folder whose models.csv times unseen models")
    parser.add_argument("--base", default=DEFAULT_PROFILE, help=f"base profile (default: {DEFAULT_PROFILE})")
    parser.add_argument("--full", type=Path, help="a profile from a full collection on the same machine")
    parser.add_argument("--profiles", nargs="*", type=Path, default=[],
                        help="other profiles to judge the same way (e.g. the one estimate-calibrate wrote)")
    parser.add_argument("--budgets", nargs="+", type=float, default=list(BUDGETS_S), help="seconds")
    parser.add_argument("--out", type=Path, required=True, help="Markdown file to write")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging()

    def study() -> int:
        summary, per_model = calibration_study(args.calibration, args.unseen, load_profile(args.base),
                                               load_profile(args.full) if args.full else None, tuple(args.budgets),
                                               profiles=tuple(load_profile(path) for path in args.profiles))
        write_atomic(args.out, "## Whole-model error on the unseen models\n\n"
                     + markdown_table(summary, 1)
                     + "\n\n## Every unseen graph: error (%) by calibration time and strategy\n\n"
                     + markdown_table(per_model, 1) + "\n")
        print(summary.to_string(index=False))
        return 0

    return run_command("calibration_study", study)


if __name__ == "__main__":
    raise SystemExit(main())
