"""How steady is the truth on this machine? The same models timed as users run them, again and again.

An estimate can be judged within ±10% only where the measured latency itself holds still to well within that.
This times each model with a default `onnxruntime.InferenceSession` (estimator.measure.truth, as the evaluations
and the first-use studies do) at each thread count, in rounds that take the models and thread counts in turn, so
that a change in the machine's state falls on all of them; per model and thread count it reports the spread of the
rounds (max / min - 1). Run it on a quiet machine; what else ran belongs in the note that cites it.

    python scripts/truth_steadiness.py --threads 1 2 --rounds 5 --models training_data/unseen/*.onnx --out steady.md
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from estimator.commands import run_command
from estimator.files import write_atomic
from estimator.measure.truth import time_in_rounds
from estimator.predict.fingerprint import machine_fingerprint
from estimator.train.tables import markdown_table
from graph import extract_layers

ROOT = Path(__file__).resolve().parents[1]


def rounds(models: list[Path], threads: list[int], count: int) -> pd.DataFrame:
    """One row per (round, model, threads): the default session's latency in ms and when it was taken."""
    cases = [(path, dict(extract_layers(path).input_shapes), thread_count) for path in models for thread_count in threads]

    def done(index: int, seconds: float) -> None:
        print(f"round {index + 1} of {count} done ({seconds:.0f} s)", flush=True)

    timings = time_in_rounds(cases, count, done)
    return pd.DataFrame([{"round": index, "model": path.stem, "threads": thread_count, "measured_ms": measured_ms,
                          "at_s": round(at_s, 1)}
                         for index, timed in enumerate(timings)
                         for (path, _, thread_count), (measured_ms, at_s) in zip(cases, timed, strict=True)])


def spreads(frame: pd.DataFrame) -> pd.DataFrame:
    """Per model and thread count: the fastest, median and slowest round, and the spread in %."""
    grouped = frame.groupby(["model", "threads"], sort=False)["measured_ms"]
    table = grouped.agg(fastest_ms="min", median_ms="median", slowest_ms="max").reset_index()
    table["spread_pct"] = (table["slowest_ms"] / table["fastest_ms"] - 1) * 100
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--models", type=Path, nargs="+", default=sorted((ROOT / "training_data/unseen").glob("*.onnx")))
    parser.add_argument("--out", type=Path, required=True, help="Markdown file; the JSON goes beside it")
    args = parser.parse_args(argv)

    def body() -> int:
        frame = rounds(list(args.models), args.threads, args.rounds)
        table = spreads(frame)
        fingerprint = machine_fingerprint(1)
        lines = [f"# Truth steadiness on {fingerprint['cpu_model']} ({fingerprint['cpu_family_model_stepping']})", "",
                 f"{args.rounds} rounds, each timing every model at {', '.join(map(str, args.threads))} thread(s) "
                 "with a default `onnxruntime.InferenceSession` (20th percentile of >= 1 s of runs). Spread = "
                 "slowest round / fastest round - 1, in %.", ""]
        for thread_count, part in table.groupby("threads"):
            wide = int((part["spread_pct"] > 10).sum())
            lines.append(f"- {thread_count} thread(s): median spread {part['spread_pct'].median():.1f}%, largest "
                         f"{part['spread_pct'].max():.1f}%; {wide} of {len(part)} models spread by more than 10%")
        lines += ["", markdown_table(table, 1), ""]
        write_atomic(args.out, "\n".join(lines))
        write_atomic(args.out.with_suffix(".json"), json.dumps(
            {"fingerprint": fingerprint, "spreads": table.to_dict("records"), "rounds": frame.to_dict("records")},
            indent=2, default=float) + "\n")
        print(f"wrote {args.out}")
        return 0

    return run_command("truth_steadiness", body)


if __name__ == "__main__":
    raise SystemExit(main())
