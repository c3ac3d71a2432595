#!/usr/bin/env python3
"""Print the statistics section of a device's data card (training_data/README.md) as Markdown.

Layers timed alone: rows per layer type and model, the measurement noise, how long collection took,
and the sum-of-isolated-layers vs measured end-to-end comparison per model and batch size. Kernels
timed in context: graphs and kernels per source, pairing, profiler and drift.

Example:
  python scripts/data_card.py training_data/cpu-epyc-1thread
"""

from __future__ import annotations

import argparse
from pathlib import Path

from estimator.commands import run_command
from estimator.train.data import load_training_data
from estimator.train.units import training_for


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, help="training-data folder (with device.json and journal.jsonl)")
    args = parser.parse_args(argv)

    def card() -> int:
        data = load_training_data(args.data)
        print(training_for(data.unit).data_card(data))
        return 0

    return run_command("data_card", card)


if __name__ == "__main__":
    raise SystemExit(main())
