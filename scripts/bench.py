#!/usr/bin/env python3
"""Speed and memory benchmarks, measured as ratios to the unavoidable floor in one run.

graph/ (extraction):
  (a) a real ResNet-152 export WITH weights (~240 MB; built by giving the shape-only zoo graph
      random weights): extract_layers vs onnx.load of the file; peak RSS vs the file size;
  (b) the same graph shape-only: extract_layers vs onnx.load + shape inference;
  (c) a synthetic chain of 5,000 convs: the same comparison.
estimator:
  (d) estimate() end to end on (a) vs onnx.load of the file;
  (e) scoring throughput of the shipped profile, in layers per second (batch prediction);
scale (issue 21; --scale-only runs just these):
  (f) `estimate --help` wall time, and `estimate training_data/zoo/resnet18.onnx` in a fresh process (the CLI's
      start-up: imports, the default profile, one estimate), and the difference;
  (i) estimate_many() over the zoo, the zoo plus training_data/modern, and every committed graph (zoo, families,
      unseen, modern), vs onnx.load + shape inference of the same files, in this process, run in turns (wall-time
      ratio per turn, median, and the ratio of CPU times: the machine may be shared); and the same models
      estimated one estimate() call each;
  (j) `estimate` on (a) in a fresh process vs a fresh process that only imports onnx and onnx.loads (a).
hostile input (budgets in BUDGETS; the run exits 1 when one is exceeded; --hostile-only runs just these):
  (g) `estimate` on a graph of 200,000 tiny nodes (7 MB): wall time and peak RSS of a fresh process; the same
      for chains of 50,000 Mul and 50,000 MatMul nodes (each read one by one by the kernel passes);
  (h) `estimate` on a 256 MB payload in each place a loader might read it (graph.stress.PAYLOAD_PLACES;
      "sparse_claim" is a 400-byte sparse Constant claiming 2.2 GB): wall time and peak RSS.
Each timing is the median of --repeat runs (g and h: one run each, in a fresh interpreter).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The floors are ONNX's own loader and shape inference, timed as such: the one place outside graph/ that
# calls onnx directly (tests/test_import_rules.py allows it here and nowhere else).
import onnx

from estimator.commands import run_command
from graph import extract_layers, load_model
from graph.build import conv_chain, save_model, with_random_weights

ROOT = Path(__file__).resolve().parents[1]
ZOO = ROOT / "training_data" / "zoo"
CHAIN_NODES = 200_000
SETS = ("zoo", "families", "unseen", "modern")  # every committed graph
# what each estimate_many figure runs over: the zoo, the zoo plus the modern exports (issue 21's target), all
MANY_SETS = {"zoo": ("zoo",), "zoo_modern": ("zoo", "modern"), "all": SETS}
BINARY_CHAIN_NODES = 50_000
PAYLOAD_BYTES = 256 << 20
CLAIMED_BYTES = 2_200_000_000
# Hostile input stays within these on the 2-core development machine (seconds, MB of peak RSS).
BUDGETS = {"g_chain_200k_s": 12.0, "g_chain_200k_peak_rss_mb": 900.0, "h_payload_max_s": 10.0,
           "h_payload_max_peak_rss_mb": 400.0}


def _median_seconds(function, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _load_and_infer(path: Path) -> None:
    model = onnx.load(str(path), load_external_data=False)
    onnx.shape_inference.infer_shapes(model, data_prop=True)


def _peak_rss_mb(code: str, with_output: bool = False):
    """Peak resident memory (MB) of a fresh interpreter running `code` (and the line `code` printed last).

    Read from /proc/self/status VmHWM: getrusage's ru_maxrss survives exec, so a child started
    by this (large) process would report the parent's peak instead of its own.
    """
    script = code + "\nprint([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1])"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
    lines = result.stdout.strip().splitlines()
    peak = int(lines[-1]) / 1024
    return (float(lines[-2]), peak) if with_output else peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    parser.add_argument("--hostile-only", action="store_true", help="only the hostile-input budgets (g, h)")
    parser.add_argument("--scale-only", action="store_true", help="only start-up and many models (f, i, j)")
    args = parser.parse_args(argv)
    return run_command("bench", lambda: _bench(args))


def _bench(args: argparse.Namespace) -> int:
    results: dict[str, float] = {}
    if not args.hostile_only:
        with tempfile.TemporaryDirectory() as tmp:
            full = Path(tmp) / "resnet152_weights.onnx"
            save_model(with_random_weights(load_model(ZOO / "resnet152.onnx").proto), full)
            if not args.scale_only:
                _speed(args, results, full)
            _scale(args, results, full)
    if not args.scale_only:
        _hostile(results)
    over = [key for key, limit in BUDGETS.items() if key in results and results[key] > limit]
    for key, value in results.items():
        print(f"{key:32} {value:12.4f}" + (f"   budget {BUDGETS[key]:g}" if key in BUDGETS else ""))
    if not args.scale_only:
        print("over budget: " + ", ".join(over) if over else "every hostile-input budget is met")
    if args.json:
        args.json.write_text(json.dumps({**results, "budgets": BUDGETS, "over_budget": over}, indent=2) + "\n")
    return 1 if over else 0


def _timed_estimate_mb(path: Path) -> tuple[float, float]:
    """Wall time (s) and peak RSS (MB) of `estimate PATH` in a fresh interpreter, after its imports."""
    code = (f"import io, contextlib, time; from estimator.cli import main\n"
            f"started = time.perf_counter()\n"
            f"with contextlib.redirect_stdout(io.StringIO()): code = main([{str(path)!r}])\n"
            f"assert code == 0, code\nprint(time.perf_counter() - started)")
    seconds, peak = _peak_rss_mb(code, with_output=True)
    return seconds, peak


def _hostile(results: dict[str, float]) -> None:
    from graph.stress import PAYLOAD_PLACES, long_chain, payload_model

    with tempfile.TemporaryDirectory() as tmp:
        chain = Path(tmp) / "chain.onnx"
        save_model(long_chain(CHAIN_NODES), chain)
        results["g_chain_200k_file_mb"] = chain.stat().st_size / 1e6
        results["g_chain_200k_s"], results["g_chain_200k_peak_rss_mb"] = _timed_estimate_mb(chain)
        chain.unlink()
        for op in ("Mul", "MatMul"):  # ops the kernel passes look at one by one (SiLU, attention fusions)
            path = Path(tmp) / f"{op}.onnx"
            save_model(long_chain(BINARY_CHAIN_NODES, op), path)
            results[f"g_{op.lower()}_chain_s"], results[f"g_{op.lower()}_chain_peak_rss_mb"] = _timed_estimate_mb(path)
            path.unlink()
        slowest = largest = 0.0
        for place in PAYLOAD_PLACES:
            path = Path(tmp) / f"{place}.onnx"
            path.write_bytes(payload_model(place, CLAIMED_BYTES if place == "sparse_claim" else PAYLOAD_BYTES)
                             .SerializeToString())
            seconds, peak = _timed_estimate_mb(path)
            results[f"h_{place}_s"], results[f"h_{place}_peak_rss_mb"] = seconds, peak
            slowest, largest = max(slowest, seconds), max(largest, peak)
            path.unlink()
        results["h_payload_max_s"], results["h_payload_max_peak_rss_mb"] = slowest, largest


def _speed(args: argparse.Namespace, results: dict[str, float], full: Path) -> None:
    shape_only = ZOO / "resnet152.onnx"
    size_mb = full.stat().st_size / 1e6
    with tempfile.TemporaryDirectory() as tmp:
        chain = Path(tmp) / "chain.onnx"
        save_model(conv_chain(5000), chain)

        load_s = _median_seconds(lambda: onnx.load(str(full)), args.repeat)
        extract_s = _median_seconds(lambda: extract_layers(full), args.repeat)
        results.update(file_mb=size_mb, a_onnx_load_s=load_s, a_extract_s=extract_s, a_ratio=extract_s / load_s)

        floor_b = _median_seconds(lambda: _load_and_infer(shape_only), args.repeat)
        extract_b = _median_seconds(lambda: extract_layers(shape_only), args.repeat)
        results.update(b_floor_s=floor_b, b_extract_s=extract_b, b_ratio=extract_b / floor_b)

        floor_c = _median_seconds(lambda: _load_and_infer(chain), max(1, args.repeat // 2))
        extract_c = _median_seconds(lambda: extract_layers(chain), max(1, args.repeat // 2))
        results.update(c_floor_s=floor_c, c_extract_s=extract_c, c_ratio=extract_c / floor_c)

    baseline_rss = _peak_rss_mb("import graph, onnx")
    extract_rss = _peak_rss_mb(f"import graph, onnx; graph.extract_layers({str(full)!r})")
    load_rss = _peak_rss_mb(f"import graph, onnx; onnx.load({str(full)!r})")
    results.update(rss_imports_mb=baseline_rss, a_extract_peak_rss_mb=extract_rss,
                   a_extract_rss_ratio_to_file=extract_rss / size_mb, a_onnx_load_peak_rss_mb=load_rss)

    from estimator import estimate, load_profile

    profile = load_profile()
    estimate(full, profile=profile)  # warm: CatBoost's first predict allocates
    estimate_s = _median_seconds(lambda: estimate(full, profile=profile), args.repeat)
    results.update(d_estimate_s=estimate_s, d_ratio=estimate_s / load_s)

    import pandas as pd

    from estimator.train.data import load_training_data

    frame = load_training_data(ROOT / "training_data" / profile.id).frames["convolutional"]
    big = pd.concat([frame] * max(1, 100_000 // len(frame)), ignore_index=True)
    score_s = _median_seconds(lambda: profile.predict(big, "convolutional"), 3)
    results.update(e_layers=len(big), e_layers_per_s=len(big) / score_s)


def _paired_seconds(floor, function, repeat: int) -> tuple[float, float, float, float]:
    """Median wall seconds of `floor` and of `function` run in turns (so that a shared machine's load falls on
    both alike), the median of the wall-time ratios of each turn, and the ratio of their summed CPU times."""
    floors, times, ratios, cpu = [], [], [], [0.0, 0.0]
    for _ in range(repeat):
        pair = []
        for index, work in enumerate((floor, function)):
            started, started_cpu = time.perf_counter(), time.process_time()
            work()
            pair.append(time.perf_counter() - started)
            cpu[index] += time.process_time() - started_cpu
        floors.append(pair[0])
        times.append(pair[1])
        ratios.append(pair[1] / pair[0])
    return statistics.median(floors), statistics.median(times), statistics.median(ratios), cpu[1] / cpu[0]


def _fresh_process(arguments: list[str]):
    """A function that runs a fresh interpreter with `arguments` (its wall time includes the start-up)."""
    return lambda: subprocess.run([sys.executable, *arguments], cwd=ROOT, capture_output=True, check=True)


def _scale(args: argparse.Namespace, results: dict[str, float], full: Path) -> None:
    help_s, cli_s, _, _ = _paired_seconds(_fresh_process(["-m", "estimator.cli", "--help"]),
                                          _fresh_process(["-m", "estimator.cli", str(ZOO / "resnet18.onnx")]), 5)
    results.update(f_help_s=help_s, f_cli_estimate_resnet18_s=cli_s, f_startup_over_help_s=cli_s - help_s)

    from estimator import estimate, estimate_many, load_profile

    profile = load_profile()
    for name, folders in MANY_SETS.items():
        files = sorted(path for folder in folders for path in (ROOT / "training_data" / folder).glob("*.onnx"))
        outcomes = estimate_many(files, profile, return_errors=True)  # also warms CatBoost up
        usable = [path for path, outcome in zip(files, outcomes, strict=True) if not isinstance(outcome, Exception)]
        many = _paired_seconds(lambda paths=usable: [_load_and_infer(path) for path in paths],
                               lambda paths=usable: estimate_many(paths, profile), args.repeat)
        one_by_one = _paired_seconds(lambda paths=usable: [_load_and_infer(path) for path in paths],
                                     lambda paths=usable: [estimate(path, profile) for path in paths],
                                     max(1, args.repeat // 2))
        results.update({f"i_{name}_models": len(usable), f"i_{name}_models_failed": len(files) - len(usable),
                        f"i_{name}_floor_s": many[0], f"i_{name}_estimate_many_s": many[1],
                        f"i_{name}_ratio": many[2], f"i_{name}_cpu_ratio": many[3],
                        f"i_{name}_one_by_one_s": one_by_one[1], f"i_{name}_one_by_one_ratio": one_by_one[2],
                        f"i_{name}_one_by_one_cpu_ratio": one_by_one[3]})

    load_process_s, cli_full_s, ratio, _ = _paired_seconds(_fresh_process(["-c", f"import onnx; onnx.load({str(full)!r})"]),
                                                           _fresh_process(["-m", "estimator.cli", str(full)]), 5)
    results.update(j_onnx_load_process_s=load_process_s, j_cli_s=cli_full_s, j_ratio=ratio)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    raise SystemExit(main())
