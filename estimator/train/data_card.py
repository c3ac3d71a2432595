"""The statistics section of a device's data card (training_data/README.md), as Markdown: one card per unit.

Layers timed alone: rows per layer type and model, the measurement noise, how long collection took, and
the sum-of-isolated-layers vs measured end-to-end comparison per model and batch size. Kernels timed in
context: graphs and kernels per source, pairing, profiler and drift. estimator.train.units says which a
folder gets.
"""

from __future__ import annotations

import pandas as pd

from estimator.files import Journal
from estimator.predict.composition import GROUPS
from estimator.train.composition import layer_sums
from estimator.train.data import TrainingData
from estimator.train.tables import markdown_table

__all__ = ["kernel_data_card", "layer_data_card"]


def layer_data_card(data: TrainingData) -> str:
    """Markdown statistics of layers timed alone (the folder's device.json and journal.jsonl with them)."""
    device = data.device or {}
    journal = Journal(data.root / "journal.jsonl")
    layers = pd.DataFrame([e for e in journal.entries.values() if e.get("kind") == "layer"])

    out = []
    counts = []
    for layer_type, frame in data.frames.items():
        zoo = frame[frame["source"] == "zoo"]
        counts.append({"layer type": layer_type, "zoo rows": len(zoo),
                       "zoo distinct configs": int(zoo["config_id"].nunique()) if "config_id" in zoo else len(zoo),
                       "sweep rows": int((frame["source"] == "sweep").sum())})
    out += ["### Rows per layer type", "", markdown_table(pd.DataFrame(counts), 2), ""]

    per_model = []
    for layer_type, frame in data.frames.items():
        zoo = frame[frame["source"] == "zoo"]
        per_model.append(zoo.groupby(["model", "batch_size"]).size().rename(layer_type))
    per_model_frame = pd.concat(per_model, axis=1).fillna(0).astype(int).reset_index()
    out += ["### Rows per zoo model and batch size", "", markdown_table(per_model_frame, 2), ""]

    cv = layers["runtime_cv"]
    spread = (layers["runtime_p90_ms"] - layers["runtime_p10_ms"]) / layers["runtime_ms"]
    method = device["method"]
    runs = device.get("runs", [])
    stayed = int(((layers["attempts"] == method["max_attempts"]) & (cv > method["max_cv"])).sum())
    out += ["### Noise and effort", "",
            f"- distinct layer configurations measured: {len(layers)}",
            f"- per-call runtime coefficient of variation: median {cv.median():.3f}, 90th percentile "
            f"{cv.quantile(0.9):.3f}; (p90 - p10) / median: median {spread.median():.3f}",
            f"- configurations re-measured because their CV exceeded {method['max_cv']}: "
            f"{int((layers['attempts'] > 1).sum())} ({(layers['attempts'] > 1).mean() * 100:.1f}%), of which "
            f"{stayed} stayed above it after the last attempt (the lowest-CV attempt is kept)",
            f"- collection runs: {len(runs)}, {sum(r['duration_s'] for r in runs) / 60:.1f} min in total:",
            *(f"  - `{r['command_line']}`: {r['measured']} measured in {r['duration_s'] / 60:.1f} min "
              f"({r['started_at']})" for r in runs),
            f"- one `run` call's fixed cost (Relu on one element): {method['call_overhead_ms'] * 1e3:.1f} us",
            ""]

    if data.models is not None:
        sums = layer_sums(data.frames, data.models)
        sums["isolated_sum_ms"] = sums[list(GROUPS)].sum(axis=1)
        sums["ratio"] = sums["isolated_sum_ms"] / sums["end_to_end_ms"]
        shown = sums[["model", "batch_size", "layers", "end_to_end_ms", "isolated_sum_ms", "ratio"]]
        out += ["### Sum of isolated layers vs the whole model", "",
                markdown_table(shown.sort_values(["model", "batch_size"]), 2),
                "", f"Ratio sum/whole: median {sums['ratio'].median():.3f}, min {sums['ratio'].min():.3f}, "
                f"max {sums['ratio'].max():.3f}.", ""]
    return "\n".join(out)


def kernel_data_card(data: TrainingData) -> str:
    """Statistics of an in-context collection: graphs and kernels per source, pairing, profiler and drift."""
    device = data.device or {}
    graphs = pd.read_csv(data.root / "models.csv")
    out = ["### Graphs timed", ""]
    per_source = graphs.groupby(["source", "batch_size"]).agg(graphs=("model", "size"), kernels=("kernels", "sum"),
                                                              paired=("paired", "sum")).reset_index()
    out += [markdown_table(per_source, 2), ""]
    rows = [{"layer type": t, "kernel rows": len(f), "timed": int(f["runtime_ms"].notna().sum()),
             "kinds": ", ".join(sorted(f["layer_kind"].dropna().unique())) if "layer_kind" in f else ""}
            for t, f in data.frames.items()]
    out += ["### Training rows per layer type (zoo and generated; unseen graphs excluded)", "",
            markdown_table(pd.DataFrame(rows), 2), ""]
    unpaired = graphs["unpaired_runtime_kernels"].sum()
    ratio = graphs["kernel_sum_ms"] / graphs["end_to_end_ms"]
    profiled = graphs["profiled_end_to_end_ms"] / graphs["end_to_end_ms"]
    drift = device.get("drift", {})
    runs = device.get("runs", [])
    references = drift.get("reference_ms") or []
    out += ["### Pairing, profiler and drift", "",
            f"- our kernels paired with a profiled kernel: {graphs['paired'].sum()} of {graphs['kernels'].sum()} "
            f"({graphs['paired'].sum() / graphs['kernels'].sum() * 100:.1f}%); profiled kernels left unpaired: {unpaired}",
            f"- sum of profiled kernel times / plain end to end: median {ratio.median():.3f} "
            f"(10th-90th percentile {ratio.quantile(0.1):.3f}-{ratio.quantile(0.9):.3f}); the profiled runs themselves: "
            f"median {profiled.median():.3f} of the plain ones",
            f"- reference graph re-timed {len(references)} times: "
            + (f"{min(references):.3f}-{max(references):.3f} ms, spread {drift.get('spread_pct', 0):.1f}%"
               if references else "never"),
            f"- collection runs: {len(runs)}, {sum(float(r.get('duration_s', 0)) for r in runs) / 60:.1f} min in total:",
            *(f"  - `{r.get('command_line', '')}`: {r.get('measured')} graphs in "
              f"{float(r.get('duration_s', 0)) / 60:.1f} min (finished {r.get('finished_at')})" for r in runs), ""]
    return "\n".join(out)
