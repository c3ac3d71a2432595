#!/usr/bin/env python3
"""Print the statistics section of a device's data card (training_data/README.md) as Markdown.

Rows per layer type and model, the measurement noise, how long collection took, and the
sum-of-isolated-layers vs measured end-to-end comparison per model and batch size.

Example:
  python scripts/data_card.py training_data/cpu-epyc-1thread
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from estimator.composition import GROUPS, layer_sums  # noqa: E402
from estimator.dataset import load_training_data  # noqa: E402
from estimator.measure.store import Journal  # noqa: E402


def table(frame: pd.DataFrame, digits: int = 2) -> str:
    lines = ["| " + " | ".join(str(c) for c in frame.columns) + " |",
             "|" + "|".join("---:" if pd.api.types.is_numeric_dtype(frame[c]) else "---" for c in frame.columns) + "|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(f"{v:.{digits}f}" if isinstance(v, float) else str(v) for v in row) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path)
    args = parser.parse_args(argv)
    data = load_training_data(args.data)
    device = json.loads((args.data / "device.json").read_text())
    journal = Journal(args.data / "journal.jsonl")
    layers = pd.DataFrame([e for e in journal.entries.values() if e.get("kind") == "layer"])

    out = []
    counts = []
    for layer_type, frame in data.frames.items():
        zoo = frame[frame["source"] == "zoo"]
        counts.append({"layer type": layer_type, "zoo rows": len(zoo),
                       "zoo distinct configs": int(zoo["config_id"].nunique()) if "config_id" in zoo else len(zoo),
                       "sweep rows": int((frame["source"] == "sweep").sum())})
    out += ["### Rows per layer type", "", table(pd.DataFrame(counts)), ""]

    per_model = []
    for layer_type, frame in data.frames.items():
        zoo = frame[frame["source"] == "zoo"]
        per_model.append(zoo.groupby(["model", "batch_size"]).size().rename(layer_type))
    per_model_frame = pd.concat(per_model, axis=1).fillna(0).astype(int).reset_index()
    out += ["### Rows per zoo model and batch size", "", table(per_model_frame), ""]

    cv = layers["runtime_cv"]
    spread = (layers["runtime_p90_ms"] - layers["runtime_p10_ms"]) / layers["runtime_ms"]
    runs = device.get("runs", [])
    out += ["### Noise and effort", "",
            f"- distinct layer configurations measured: {len(layers)}",
            f"- per-call runtime coefficient of variation: median {cv.median():.3f}, 90th percentile "
            f"{cv.quantile(0.9):.3f}; (p90 - p10) / median: median {spread.median():.3f}",
            f"- configurations re-measured because their CV exceeded {device['method']['max_cv']}: "
            f"{int((layers['attempts'] > 1).sum())} ({(layers['attempts'] > 1).mean() * 100:.1f}%), of which "
            f"{int(((layers['attempts'] == device['method']['max_attempts']) & (cv > device['method']['max_cv'])).sum())} "
            "stayed above it after the last attempt (the lowest-CV attempt is kept)",
            f"- collection runs: {len(runs)}, {sum(r['duration_s'] for r in runs) / 60:.1f} min in total:",
            *(f"  - `{r['command_line']}`: {r['measured']} measured in {r['duration_s'] / 60:.1f} min "
              f"({r['started_at']})" for r in runs),
            f"- one `run` call's fixed cost (Relu on one element): {device['method']['call_overhead_ms'] * 1e3:.1f} us",
            ""]

    if data.models is not None:
        sums = layer_sums(data.frames, data.models)
        sums["isolated_sum_ms"] = sums[list(GROUPS)].sum(axis=1)
        sums["ratio"] = sums["isolated_sum_ms"] / sums["end_to_end_ms"]
        shown = sums[["model", "batch_size", "layers", "end_to_end_ms", "isolated_sum_ms", "ratio"]]
        out += ["### Sum of isolated layers vs the whole model", "", table(shown.sort_values(["model", "batch_size"])),
                "", f"Ratio sum/whole: median {sums['ratio'].median():.3f}, min {sums['ratio'].min():.3f}, "
                f"max {sums['ratio'].max():.3f}.", ""]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
