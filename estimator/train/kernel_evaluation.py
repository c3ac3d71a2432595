"""The evaluation of a kernel profile (kernels timed in context): whole-graph accuracy on graphs it never saw.

Held-out views, each trained afresh without the graphs it tests:
- leave-one-model-out over the zoo (every batch size of the held-out model);
- leave-one-family-out over generated networks (trained on the other families and the op-coverage graphs only, no
  zoo);
- extrapolation in sequence length: generated attention encoders over 1,024-4,096 tokens, predicted by a profile that
  saw no attention over more than 512 (where the data has both);
- the shipped profile itself on the unseen torchvision classifiers and the modern exports, through `estimate` as
  users run it.
Kernel-level metrics and the MACs baseline come from the zoo folds; the composition table shows what
each part of the composition buys on the held-out families.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from estimator.files import write_atomic
from estimator.predict.estimation import estimate
from estimator.predict.profiles import load_profile
from estimator.train.accuracy import error_summary, layer_metrics
from estimator.train.data import MODERN, UNSEEN, TrainingData, load_training_data
from estimator.train.graphs import GraphSplit, graph_table, held_out_graphs
from estimator.train.tables import markdown_table
from graph.generate import COVERAGE, generate

__all__ = ["evaluate_kernel_profile", "family_folds", "sequence_extrapolation", "unseen_graphs", "zoo_folds"]

SHORT_TOKENS, LONG_TOKENS = 512, 1024  # the extrapolation study trains on attention up to 512 tokens, tests from 1,024

logger = logging.getLogger(__name__)


def zoo_folds(data: TrainingData, params: dict | None = None) -> GraphSplit:
    """Leave-one-model-out over the zoo: each model's graphs predicted by a profile trained without it."""
    graphs = graph_table(data)
    names = sorted(graphs.loc[graphs["source"] == "zoo", "model"].unique())
    folds = [held_out_graphs(data, lambda g, name=name: (g["model"] == name) & (g["source"] == "zoo"), params=params)
             for name in tqdm(names, desc="leave-one-model-out", unit="model")]
    return _concat(folds)


def family_folds(data: TrainingData, params: dict | None = None) -> GraphSplit | None:
    """Leave-one-family-out over generated networks, trained on the other generated families only; the op-coverage
    families (graph.generate.COVERAGE: primitives) are always training data, never held out. None when the data has
    no such family (a collection of zoo models only)."""
    graphs = graph_table(data)
    families = sorted(set(graphs.loc[graphs["source"] == "generated", "family"].unique()) - set(COVERAGE))
    if not families:
        return None
    folds = [held_out_graphs(data, lambda g, f=family: (g["source"] == "generated") & (g["family"] == f),
                             trains=lambda g: g["source"] == "generated", params=params)
             for family in tqdm(families, desc="leave-one-family-out", unit="family")]
    return _concat(folds)


def sequence_extrapolation(data: TrainingData, params: dict | None = None) -> GraphSplit | None:
    """Generated attention encoders over >= LONG_TOKENS tokens, predicted by a profile trained on everything else
    but attention over more than SHORT_TOKENS; None when the data has no such pair of ranges."""
    graphs = graph_table(data)
    tokens = attention_tokens(graphs)
    if not (tokens >= LONG_TOKENS).any() or not ((tokens > 0) & (tokens <= SHORT_TOKENS)).any():
        return None
    by_model = dict(zip(graphs["model"], tokens, strict=True))  # the masks below see the same table (or a part)
    return held_out_graphs(data, lambda g: g["model"].map(by_model) >= LONG_TOKENS,
                           trains=lambda g: g["model"].map(by_model) <= SHORT_TOKENS, params=params)


def attention_tokens(graphs: pd.DataFrame) -> pd.Series:
    """The sequence length of each generated attention graph (0 for every other graph), from its generator spec."""
    attention = (graphs["source"] == "generated") & (graphs["family"] == "attention")
    seeds = graphs.loc[attention, "model"].str.rsplit("_", n=1).str[1].astype(int)
    tokens = {seed: int(generate("attention", seed).spec["seq"]) for seed in seeds.unique()}
    return seeds.map(tokens).reindex(graphs.index, fill_value=0)


def unseen_graphs(data: TrainingData, profile_dir: Path, source: str = UNSEEN) -> pd.DataFrame:
    """The profile on every graph of models.csv from an evaluation-only `source` (unseen, modern), estimated from
    its ONNX file as a user would."""
    if data.models is None or "path" not in data.models.columns:
        return pd.DataFrame()
    rows = data.models[data.models["source"] == source]
    profile = load_profile(profile_dir)
    out = []
    for row in rows.itertuples():
        report = estimate(_repository() / str(row.path), profile, batch_size=int(row.batch_size))
        out.append({"model": row.model, "batch_size": int(row.batch_size), "end_to_end_ms": row.end_to_end_ms,
                    "predicted_ms": report.totals.runtime_ms,
                    "error_pct": (report.totals.runtime_ms / row.end_to_end_ms - 1) * 100,
                    "kernels_out_of_distribution": report.totals.layers_out_of_distribution})
    return pd.DataFrame(out)


def _repository() -> Path:
    """Where models.csv's relative model paths start."""
    return Path(__file__).resolve().parents[2]


def evaluate_kernel_profile(data_path: str | Path, profile_dir: str | Path, params: dict | None = None,
                            zoo_models: bool = True) -> Path:
    """Write evaluation.md and evaluation.json into the profile folder; without `zoo_models`, no leave-one-model-out
    (a fit per zoo model, 40 s each on 2 cores) and so no per-kernel table against the MACs baseline."""
    started = time.monotonic()
    data_path, profile_dir = Path(data_path), Path(profile_dir)
    data = load_training_data(data_path)
    zoo = zoo_folds(data, params) if zoo_models else None
    generated = family_folds(data, params)
    extrapolation = sequence_extrapolation(data, params)
    unseen = unseen_graphs(data, profile_dir)
    modern = unseen_graphs(data, profile_dir, MODERN)
    document: dict[str, object] = {"data": str(data_path), "fingerprint": data.fingerprint}
    text = [f"# Evaluation: {profile_dir.name}", "",
            f"Training data: `{data_path}` (fingerprint {data.fingerprint}), kernels timed inside whole graphs. Every "
            "figure below is for graphs the evaluated model never saw. Errors are (predicted / measured - 1) in %; "
            "measured is the plain end-to-end latency (20th percentile of the runs, interleaved with the profiled "
            "runs that timed the kernels).", ""]
    text += _zoo_section(zoo, document) if zoo is not None else [
        "## Leave-one-model-out over the zoo", "", "Not run (`scripts/evaluate.py --no-lomo`).", ""]
    if generated is not None:
        text += _family_section(generated, document)
    if extrapolation is not None:
        text += _extrapolation_section(extrapolation, document)
    if not unseen.empty:
        document["unseen"] = unseen.to_dict("records")
        text += ["## Unseen torchvision classifiers, through `estimate` with this profile", "",
                 "Never part of training or of any choice made while building the method.", "",
                 markdown_table(_by_batch(unseen, "error_pct")), "", markdown_table(unseen, 2), ""]
    if not modern.empty:
        document["modern"] = modern.to_dict("records")
        text += ["## Modern exports (timm, transformers, ultralytics), through `estimate` with this profile", "",
                 "training_data/modern: evaluation only, never part of training.", "",
                 markdown_table(_by_batch(modern, "error_pct")), "", markdown_table(modern, 2), ""]
    text.append(f"Evaluation took {time.monotonic() - started:.0f} s.")
    write_atomic(profile_dir / "evaluation.md", "\n".join(text) + "\n")
    write_atomic(profile_dir / "evaluation.json", json.dumps(document, indent=2, default=float) + "\n")
    return profile_dir / "evaluation.md"


def _zoo_section(split: GraphSplit, document: dict) -> list[str]:
    graphs = split.graphs
    kernels = split.kernels[split.kernels["runtime_ms"].notna()]
    per_type = []
    for layer_type, part in kernels.groupby("layer_type"):
        per_type.append({"layer_type": layer_type, "method": "ours",
                         **layer_metrics(part["runtime_ms"], part["predicted_ms"])})
        if "macs_ms" in part.columns:
            per_type.append({"layer_type": layer_type, "method": "macs",
                             **layer_metrics(part["runtime_ms"], part["macs_ms"])})
    per_type = pd.DataFrame(per_type)
    columns = ["model", "batch_size", "end_to_end_ms", "predicted_ms", "predicted_error_pct", "macs_error_pct"]
    document["zoo_leave_one_model_out"] = {"summary": error_summary(graphs["predicted_error_pct"]),
                                           "graphs": graphs[[c for c in columns if c in graphs]].to_dict("records"),
                                           "kernels": per_type.to_dict("records")}
    return ["## Leave-one-model-out over the zoo", "",
            "Each zoo model's graphs (every batch size) predicted by a profile trained on the other zoo models and "
            "every generated network.", "", markdown_table(_by_batch(graphs, "predicted_error_pct")), "",
            "### Per-kernel runtime (profiled, ms) against the MACs-proportional baseline", "", markdown_table(per_type), "",
            "### Every graph", "", markdown_table(graphs[[c for c in columns if c in graphs]], 2), ""]


def _family_section(split: GraphSplit, document: dict) -> list[str]:
    graphs = split.graphs
    rows = []
    for family, part in graphs.groupby("family"):
        entry = {"family": family}
        for column, label in (("predicted_error_pct", "ours"), ("plus_run_overhead_error_pct", "no_profiler_correction"),
                              ("kernels_only_error_pct", "kernels_only")):
            summary = error_summary(part[column])
            entry[f"{label}_within_10"] = summary["within_10_pct"]
            entry[f"{label}_median_abs"] = summary["median_abs_pct"]
        entry["n"] = len(part)
        entry["ours_max_abs"] = float(part["predicted_error_pct"].abs().max())
        rows.append(entry)
    table = pd.DataFrame(rows)
    document["generated_leave_one_family_out"] = {"summary": error_summary(graphs["predicted_error_pct"]),
                                                  "families": table.to_dict("records")}
    return ["## Leave-one-family-out over generated networks", "",
            "Each family predicted by a profile trained on the other generated families only (no zoo); the op-coverage "
            f"graphs ({', '.join(COVERAGE)}: graph.generate.primitives) always train and are never held out. 'ours' is "
            "run overhead + sum of (kernel - profiler overhead); the other two columns drop parts of that composition "
            "to show what each part buys.", "", markdown_table(_by_batch(graphs, "predicted_error_pct")), "",
            markdown_table(table), ""]


def _extrapolation_section(split: GraphSplit, document: dict) -> list[str]:
    graphs = split.graphs.assign(tokens=attention_tokens(split.graphs))
    kernels = split.kernels[split.kernels["runtime_ms"].notna()]
    per_type = pd.DataFrame([{"layer_type": layer_type, "method": method,
                              **layer_metrics(part["runtime_ms"], part[column])}
                             for layer_type, part in kernels.groupby("layer_type")
                             for method, column in (("ours", "predicted_ms"), ("macs", "macs_ms")) if column in part])
    columns = ["model", "tokens", "batch_size", "end_to_end_ms", "predicted_ms", "predicted_error_pct", "macs_error_pct"]
    table = graphs[[c for c in columns if c in graphs]].sort_values("tokens")
    document["sequence_extrapolation"] = {"summary": error_summary(graphs["predicted_error_pct"]),
                                          "graphs": table.to_dict("records"), "kernels": per_type.to_dict("records")}
    return ["## Extrapolation in sequence length", "",
            f"Generated attention encoders over {LONG_TOKENS:,}-4,096 tokens, predicted by a profile trained on every "
            f"other graph but attention over more than {SHORT_TOKENS} tokens: their attention MatMuls are up to 64x "
            "larger than any it measured.", "", markdown_table(_by_batch(graphs, "predicted_error_pct")), "",
            "### Per-kernel runtime (profiled, ms)", "", markdown_table(per_type), "",
            "### Every graph", "", markdown_table(table, 2), ""]


def _by_batch(graphs: pd.DataFrame, column: str) -> pd.DataFrame:
    rows = [{"batch_size": "all", **error_summary(graphs[column])}]
    for batch, part in graphs.groupby("batch_size"):
        rows.append({"batch_size": str(batch), **error_summary(part[column])})
    return pd.DataFrame(rows)


def _concat(folds: list[GraphSplit]) -> GraphSplit:
    return GraphSplit(pd.concat([f.kernels for f in folds], ignore_index=True),
                      pd.concat([f.graphs for f in folds], ignore_index=True))
