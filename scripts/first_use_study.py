"""The first `estimate` call on a machine with no profile of its own, judged where users run.

For each thread count: a fresh user folder, the first `estimate` call at a terminal (a pseudo-terminal,
so it does what it does for a person: measure a profile of this machine first) and its duration; then
every unseen model estimated with what that call left, with the nearest shipped profile as it is
(`--no-calibrate`), and timed as users run it (a default `onnxruntime.InferenceSession`, in the same
window). Run it from a checkout whose package does not ship this machine's own profile, on a quiet
machine; from one that does, it judges that shipped profile on its own machine (the first call then measures
nothing, and the title says so). Models are judged per set (the folder they lie in: training_data/unseen, training_data/modern).
Writes a Markdown table and a JSON file.

With `--budget SECONDS`, the first call is an explicit `estimate-calibrate --budget SECONDS --threads T` instead
(what a user who calibrates for longer gets), judged the same way.

    python scripts/first_use_study.py --threads 1 2 --models training_data/unseen/*.onnx --out first_use.md
    python scripts/first_use_study.py --threads 1 2 --budget 600 --models training_data/modern/*.onnx --out cal600.md
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from estimator.commands import run_command
from estimator.files import write_atomic
from estimator.measure.truth import time_in_rounds
from estimator.predict.estimation import estimate
from estimator.predict.fingerprint import machine_fingerprint
from estimator.predict.selection import choose_profile
from estimator.predict.userdata import HOME_VARIABLE
from estimator.train.accuracy import error_summary, share_within
from estimator.train.tables import markdown_table

ROOT = Path(__file__).resolve().parents[1]
# Truth rounds per model: one round read a small net 4-9% apart from one window to the next, even at 1 thread.
TRUTH_ROUNDS = 3


def first_call(model: Path, threads: int, home: Path) -> tuple[float, str]:
    """Seconds the first `estimate` call takes at a terminal, and what it printed on standard error."""
    command = shlex.join([sys.executable, "-m", "estimator.cli", str(model), "--threads", str(threads),
                          "--format", "json", "--output", str(home / "first.json")])
    started = time.monotonic()
    done = subprocess.run(["script", "-qec", command, "/dev/null"], env={**os.environ, HOME_VARIABLE: str(home)},
                          capture_output=True, text=True, errors="replace", check=False)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"first call failed ({done.returncode}): {done.stdout[-2000:]}")
    return seconds, done.stdout


def calibration(threads: int, budget_s: float, home: Path) -> tuple[float, str]:
    """Seconds `estimate-calibrate --budget budget_s` takes into the user folder `home`, and what it printed."""
    command = [sys.executable, "-m", "estimator.calibrate", "--budget", f"{budget_s:g}", "--threads", str(threads)]
    started = time.monotonic()
    done = subprocess.run(command, env={**os.environ, HOME_VARIABLE: str(home)}, capture_output=True, text=True,
                          errors="replace", check=False)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"calibration failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds, done.stderr


def truth(models: list[Path], shapes: list, threads: int, rounds: int) -> list[list[float]]:
    """Each model's default-session latency in each of `rounds` rounds taken over all models (ms)."""
    timings = time_in_rounds([(path, shape, threads) for path, shape in zip(models, shapes, strict=True)], rounds)
    return [[ms for ms, _ in column] for column in zip(*timings, strict=True)]


def study(models: list[Path], threads: int, budget_s: float | None = None,
          truth_rounds: int = TRUTH_ROUNDS) -> tuple[pd.DataFrame, dict]:
    home = Path(tempfile.mkdtemp(prefix=f"first-use-t{threads}-"))
    os.environ[HOME_VARIABLE] = str(home)
    nearest = choose_profile(threads)
    seconds, printed = first_call(models[0], threads, home) if budget_s is None else calibration(threads, budget_s, home)
    chosen = choose_profile(threads)
    first_reports = [estimate(path, threads=threads) for path in models]
    shipped_reports = [estimate(path, profile=nearest.path, threads=threads) for path in models]
    measured = truth(models, [report.input_shapes for report in first_reports], threads, truth_rounds)
    rows = []
    for path, calibrated, shipped, rounds_ms in zip(models, first_reports, shipped_reports, measured, strict=True):
        truth_ms, fastest_ms = float(statistics.median(rounds_ms)), min(rounds_ms)
        rows.append({"model": path.stem, "set": path.parent.name, "threads": threads, "measured_ms": truth_ms,
                     "fastest_round_ms": fastest_ms, "rounds_ms": [round(ms, 3) for ms in rounds_ms],
                     "first_call_ms": calibrated.totals.runtime_ms,
                     "first_call_error_pct": (calibrated.totals.runtime_ms / truth_ms - 1) * 100,
                     "first_call_error_fastest_pct": (calibrated.totals.runtime_ms / fastest_ms - 1) * 100,
                     "nearest_shipped_ms": shipped.totals.runtime_ms,
                     "nearest_shipped_error_pct": (shipped.totals.runtime_ms / truth_ms - 1) * 100})
    facts = {"threads": threads, "truth_rounds": truth_rounds, "first_call_s": round(seconds, 1),
             "profile_used": chosen.profile_id, "nearest_shipped_is_this_machines": nearest.of_this_machine,
             "profile_used_note": chosen.note(), "nearest_shipped": nearest.profile_id,
             "nearest_shipped_note": nearest.note(), "first_call_stderr_tail": printed[-600:]}
    return pd.DataFrame(rows), facts


def summary(frame: pd.DataFrame, column: str) -> dict:
    errors = frame[column]
    return {**error_summary(errors), "within_20": share_within(errors.abs(), 20.0)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    parser.add_argument("--models", type=Path, nargs="+", default=sorted((ROOT / "training_data/unseen").glob("*.onnx")))
    parser.add_argument("--budget", type=float, help="calibrate explicitly for this many seconds instead of the "
                                                        "first call's automatic calibration")
    parser.add_argument("--truth-rounds", type=int, default=TRUTH_ROUNDS,
                        help="time the truth in this many rounds over all models and take each model's median "
                             "(one round read a small net 4-9%% apart from one window to the next even at 1 thread, and "
                             "the default thread count's latency jumps between runs: scripts/truth_steadiness.py)")
    parser.add_argument("--out", type=Path, required=True, help="Markdown file; the JSON goes beside it")
    args = parser.parse_args(argv)
    first = "the first call" if args.budget is None else f"`estimate-calibrate --budget {args.budget:g}`"

    def body() -> int:
        frames, documents = [], []
        for threads in args.threads:
            frame, facts = study(list(args.models), threads, args.budget, args.truth_rounds)
            nearest = facts.pop("nearest_shipped")
            facts["sets"] = {name: {"first_call": summary(part, "first_call_error_pct"),
                                    "first_call_fastest_round": summary(part, "first_call_error_fastest_pct"),
                                    "nearest_shipped": {"profile": nearest, **summary(part, "nearest_shipped_error_pct")}}
                             for name, part in frame.groupby("set", sort=False)}
            frames.append(frame)
            documents.append(facts)
        table = pd.concat(frames, ignore_index=True)
        machine = f"{machine_fingerprint(1)['cpu_model']} ({machine_fingerprint(1)['cpu_family_model_stepping']})"
        title = (f"The first `estimate` call on {machine}" if args.budget is None else
                 f"`estimate-calibrate --budget {args.budget:g}` on {machine}")
        own = all(facts["nearest_shipped_is_this_machines"] for facts in documents)
        lines = [f"# {title}, " + ("with its own shipped profile" if own else "without its own profile"), "",
                 "Truth: a default `onnxruntime.InferenceSession` (spinning as ONNX Runtime defaults it), 20th "
                 "percentile of >= 1 s of runs, timed right after the estimates in the same window"
                 + (f" in {args.truth_rounds} rounds over all models, each model's median of them" if
                    args.truth_rounds > 1 else "") + ". Error = estimated / measured - 1, in %. Beside it, each "
                 "model's fastest round (`fastest_round_ms`): the machine as it runs when no other guest takes a "
                 "core from the session (scripts/truth_steadiness.py).", ""]
        for facts in documents:
            lines += [f"## {facts['threads']} thread(s)", "",
                      f"{first[0].upper()}{first[1:]}: {facts['first_call_s']} s, then `{facts['profile_used']}`.", ""]
            for name, judged in facts["sets"].items():
                judged_first, shipped = judged["first_call"], judged["nearest_shipped"]
                fastest = judged["first_call_fastest_round"]
                lines += [f"- `training_data/{name}`, after {first}: {judged_first['within_10_pct']:.0f}% within "
                          f"±10%, {judged_first['within_20']:.0f}% within ±20%, median |error| "
                          f"{judged_first['median_abs_pct']:.1f}% (n={judged_first['n']}); against each model's "
                          f"fastest round: {fastest['within_10_pct']:.0f}% within ±10%, {fastest['within_20']:.0f}% "
                          f"within ±20%, median |error| {fastest['median_abs_pct']:.1f}%; the nearest shipped profile "
                          f"as it is (`{shipped['profile']}`, "
                          f"`--no-calibrate`): {shipped['within_10_pct']:.0f}% within ±10%, {shipped['within_20']:.0f}% "
                          f"within ±20%, median |error| {shipped['median_abs_pct']:.1f}%"]
            lines.append("")
        lines += [markdown_table(table.drop(columns="rounds_ms"), 1), ""]
        write_atomic(args.out, "\n".join(lines))
        write_atomic(args.out.with_suffix(".json"), json.dumps({"runs": documents, "models": table.to_dict("records")},
                                                               indent=2, default=float) + "\n")
        print(args.out)
        return 0

    return run_command("first_use_study", body)


if __name__ == "__main__":
    raise SystemExit(main())
