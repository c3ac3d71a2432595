"""Estimate models' per-layer and whole-graph runtime, power and energy with a profile.

A kernel profile (timed in context) scores the kernels its device's runtime executes, as the
device's fusion rules give them, and adds the per-run overhead; a layer profile (each layer timed
alone) scores the model's compute nodes and composes them with fitted group scales.

Every estimate runs in two steps. Reading a model (graph work, estimator.predict.extraction) comes
first, for each model on its own, on an executor when one is given; scoring comes second, in the
caller, for the records of many models together: one featurisation and one CatBoost call per layer
type, whose predictions are split back into one Report per model. estimate() is the one-model case,
so estimate_many() gives each model the Report that estimate() gives it (to the last bits of CatBoost's
vectorised arithmetic, which may round a row differently among other rows).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import BrokenExecutor, Executor
from contextlib import closing
from pathlib import Path
from typing import Literal, overload

import numpy as np
import pandas as pd

import estimator.predict.render  # noqa: F401  (registers the renderers that Report.to_json() and the like look up)
from estimator.errors import EstimatorError
from estimator.predict.extraction import ExtractionSettings, ModelJob, PreparedModel, prepare_chunk
from estimator.predict.profiles import Profile, load_profile
from estimator.predict.report import KERNEL_REPORT_COLUMNS, LAYER_COLUMNS, Report, Totals
from estimator.predict.selection import choose_profile, device_note
from estimator.predict.units import Placement
from graph.collector import collector_paused
from graph.loading import ModelSource, source_label
from graph.schema import LAYER_TYPES

__all__ = ["MAX_CHUNK_MODELS", "SCORE_BATCH_RECORDS", "estimate", "estimate_jobs", "estimate_many"]

# Records (kernels or layers) scored together at most: many models' records share one CatBoost call per
# layer type, and this bounds the memory a search over thousands of models holds at once.
SCORE_BATCH_RECORDS = 50_000
# Models per task sent to an executor at most (fewer when there are few models, so that every worker gets some).
MAX_CHUNK_MODELS = 16

ProfileSource = Profile | str | Path | None
_RUNTIME_COLUMNS = ("runtime_ms", "runtime_low_ms", "runtime_high_ms")


def estimate(
    model: ModelSource,
    profile: ProfileSource = None,
    batch_size: int | None = None,
    input_shapes: dict[str, tuple[int, ...]] | None = None,
    dimensions: dict[str, int] | None = None,
    threads: int | None = None,
) -> Report:
    """Per-layer and whole-graph runtime (ms), power (W) and energy (mJ) of `model` on a profile's device.

    `model` is a path, bytes or onnx.ModelProto; `profile` an id, a folder or a loaded Profile (default: the
    profile nearest to this machine at `threads`, ONNX Runtime's default thread count here unless given; the
    report's device_note says which, why and how far). Nothing is ever measured here.
    `dimensions` sizes symbolic input dimensions by name, e.g. {"sequence": 128}.
    """
    (report,) = estimate_jobs([ModelJob(model, batch_size, input_shapes, dimensions)], profile, threads=threads)
    return report


@overload
def estimate_many(models: Iterable[ModelSource], profile: ProfileSource = None, batch_size: int | None = None,
                  input_shapes: dict[str, tuple[int, ...]] | None = None, dimensions: dict[str, int] | None = None, *,
                  executor: Executor | None = None, return_errors: Literal[False] = False,
                  chunk_size: int | None = None, threads: int | None = None) -> list[Report]: ...


@overload
def estimate_many(models: Iterable[ModelSource], profile: ProfileSource = None, batch_size: int | None = None,
                  input_shapes: dict[str, tuple[int, ...]] | None = None, dimensions: dict[str, int] | None = None, *,
                  executor: Executor | None = None, return_errors: Literal[True],
                  chunk_size: int | None = None, threads: int | None = None) -> list[Report | Exception]: ...


def estimate_many(models, profile=None, batch_size=None, input_shapes=None, dimensions=None, *, executor=None,
                  return_errors=False, chunk_size=None, threads=None):
    """estimate() of many models at once, in their order: each gets the Report estimate() would give it.

    Models are read one by one (on `executor` when given: any concurrent.futures.Executor, e.g. a
    ProcessPoolExecutor or `dask.distributed.Client(...).get_executor()`, in tasks of `chunk_size`
    models) and scored together in this process. A model that fails raises its error, or, with
    `return_errors`, takes the error's place in the list (the others are still estimated). `threads` picks the
    default profile as in estimate().
    """
    jobs = [ModelJob(model, batch_size, input_shapes, dimensions) for model in models]
    return estimate_jobs(jobs, profile, executor=executor, return_errors=return_errors, chunk_size=chunk_size,
                         threads=threads)


@collector_paused()
def estimate_jobs(jobs: Sequence[ModelJob], profile: ProfileSource = None, *, executor: Executor | None = None,
                  return_errors: bool = False, chunk_size: int | None = None, threads: int | None = None) -> list:
    """estimate_many() for jobs that each size their model (estimator.predict.curve's points).

    The cyclic collector is paused throughout (graph.collector): reading and scoring leave no cycles, and its
    passes over the growing reports cost a few percent of a batch."""
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
    loaded, note = _chosen_profile(profile, threads)
    settings = ExtractionSettings(loaded.unit.name, loaded.rules, _layer_kinds(loaded))
    results: list = []  # Reports and errors; a PreparedModel until it is scored
    waiting: list[int] = []  # positions of models read and not yet scored
    records = 0
    with closing(_prepared(jobs, settings, executor, chunk_size)) as prepared:  # closing cancels what is left
        for item in prepared:
            if isinstance(item, Exception) and not return_errors:
                raise item
            results.append(item)
            if isinstance(item, PreparedModel):
                waiting.append(len(results) - 1)
                records += len(item.names)
                if records >= SCORE_BATCH_RECORDS:
                    _score_waiting(results, waiting, loaded, note, return_errors)
                    records = 0
    _score_waiting(results, waiting, loaded, note, return_errors)
    return results


def _chosen_profile(profile: ProfileSource, threads: int | None) -> tuple[Profile, str | None]:
    """The profile to score with, and the report's line on it: the nearest to this machine when none is named."""
    if profile is None:
        choice = choose_profile(threads)
        return load_profile(choice.path), choice.note()
    loaded = profile if isinstance(profile, Profile) else load_profile(profile)
    return loaded, device_note(loaded.manifest.get("fingerprint"), threads)


def _layer_kinds(profile: Profile) -> tuple[str, ...] | None:
    kinds = profile.manifest.get("layer_kinds")
    return None if kinds is None else tuple(kinds)


def _prepared(jobs: Sequence[ModelJob], settings: ExtractionSettings, executor: Executor | None,
              chunk_size: int | None) -> Iterator[PreparedModel | Exception]:
    """Each job's PreparedModel (or its error), in the jobs' order; on `executor` in chunks when one is given."""
    if executor is None:
        for job in jobs:
            yield from prepare_chunk([job], settings)
        return
    size = chunk_size or min(MAX_CHUNK_MODELS, max(1, len(jobs) // 32))
    chunks = [jobs[start:start + size] for start in range(0, len(jobs), size)]
    futures = [executor.submit(prepare_chunk, chunk, settings) for chunk in chunks]
    try:
        for chunk, future in zip(chunks, futures, strict=True):
            try:
                items = future.result()
            except Exception as error:  # the executor could not run the task: a worker died, a value did not pickle
                items = [_lost(job, error) for job in chunk]
            yield from items
    finally:
        for future in futures:  # when an error ends the walk early
            future.cancel()


def _lost(job: ModelJob, error: Exception) -> EstimatorError:
    """The error of a model whose task the executor lost."""
    try:
        label = source_label(job.model)
    except TypeError:
        label = f"<{type(job.model).__name__}>"
    what = "died (out of memory or a crash)" if isinstance(error, BrokenExecutor) else \
        f"failed ({type(error).__name__}: {error})"
    return EstimatorError(f"{label}: the process estimating it {what}; estimate it alone to see why")


def _score_waiting(results: list, waiting: list[int], profile: Profile, note: str | None, return_errors: bool) -> None:
    """Score the models at the `waiting` positions of `results` together and put their Reports in their places."""
    reports = _score_together(profile, [results[position] for position in waiting], note)
    for position, report in zip(waiting, reports, strict=True):
        if isinstance(report, Exception) and not return_errors:
            raise report
        results[position] = report
    waiting.clear()


def _score_together(profile: Profile, models: list[PreparedModel], note: str | None) -> list[Report | Exception]:
    """Reports of models scored together; when that fails, each model is scored alone, so a failure is its own."""
    if not models:
        return []
    try:
        return list(_score(profile, models, note))
    except Exception as error:  # a bug: pinned on the model that causes it, the others still report
        if len(models) == 1:
            return [error]
        return [report for model in models for report in _score_together(profile, [model], note)]


def _score(profile: Profile, models: list[PreparedModel], note: str | None) -> list[Report]:
    """One Report per model: each layer type's records of all models featurised and predicted at once."""
    placement = profile.unit.placement(profile.manifest.get("composition"))
    scores = [_empty_scores(len(model.names)) for model in models]
    for layer_type in LAYER_TYPES:
        owners = [(score, model) for score, model in zip(scores, models, strict=True) if layer_type in model.positions]
        if not owners:
            continue
        frame = _frame(_concatenated([model.features[layer_type] for _, model in owners]))
        if len(models) == 1:  # the frame holds them now; a large model's lists would double its memory
            models[0].features.pop(layer_type)
        predicted = profile.predict(frame, layer_type)
        columns = {**{column: placement.in_graph(predicted[column].to_numpy(), frame, layer_type)
                      for column in _RUNTIME_COLUMNS}, "power_w": predicted["power_w"].to_numpy(),
                   "out_of_distribution": predicted["out_of_distribution"].to_numpy(dtype=bool)}
        start = 0
        for score, model in owners:
            positions = model.positions[layer_type]
            for column, values in columns.items():
                score[column][positions] = values[start:start + len(positions)]
            start += len(positions)
    reports = []
    for score, model in zip(scores, models, strict=True):
        layers, total_runtime = _layers(model, score, placement)
        reports.append(_report(profile, model, layers, total_runtime, placement.run_overhead_ms, placement.summary,
                               note))
    return reports


def _empty_scores(count: int) -> dict[str, np.ndarray]:
    return {**{column: np.full(count, np.nan) for column in (*_RUNTIME_COLUMNS, "power_w")},
            "out_of_distribution": np.zeros(count, dtype=bool)}


def _frame(columns: dict[str, list]) -> pd.DataFrame:
    """The feature columns as a frame, numeric ones handed over as float arrays (None: NaN) rather than inferred by
    pandas from their Python values (scoring the 55 zoo and modern graphs together: 0.120 -> 0.112 s). Featurization
    reads every number as a float."""
    arrays: dict[str, object] = {}
    for name, values in columns.items():
        first = next((value for value in values if value is not None), None)
        if first is None or isinstance(first, str):
            arrays[name] = values
            continue
        try:
            arrays[name] = np.array(values, dtype=np.float64)
        except (TypeError, ValueError):  # (a column that mixes numbers and text)
            arrays[name] = values
    return pd.DataFrame(arrays)


def _concatenated(parts: list[dict[str, list]]) -> dict[str, list]:
    """Column dicts of several models as one (None where a model's rows lack a column)."""
    if len(parts) == 1:
        return parts[0]
    keys = dict.fromkeys(key for part in parts for key in part)
    absent = [[None] * len(next(iter(part.values()))) for part in parts]
    return {key: [value for part, none in zip(parts, absent, strict=True) for value in part.get(key, none)]
            for key in keys}


def _layers(model: PreparedModel, score: dict[str, np.ndarray], placement: Placement) -> tuple[pd.DataFrame, float]:
    """The report's layer rows of one model in graph order, and its total runtime (the layers' and the per-run
    overhead). Computed on arrays and framed once: pandas operations per model were a third of scoring."""
    scale = placement.graph_scale(_sum(score["runtime_ms"]))
    if scale != 1.0:
        score = {**score, **{column: score[column] * scale for column in _RUNTIME_COLUMNS}}
    runtime = score["runtime_ms"]
    power = score["power_w"] * placement.power_scale
    total_runtime = _sum(runtime) + placement.run_overhead_ms
    values = {
        "name": model.names,
        "op_type": model.op_types,
        "layer_type": model.layer_types,
        "shape": model.shapes,
        **{column: score[column] for column in _RUNTIME_COLUMNS},
        "power_w": power,
        "energy_mj": power * runtime,
        "runtime_share": runtime / total_runtime if total_runtime > 0 else np.zeros(len(runtime)),
        "out_of_distribution": score["out_of_distribution"],
        **model.extra,
    }
    columns = [*LAYER_COLUMNS, *[column for column in KERNEL_REPORT_COLUMNS if column in model.extra]]
    if not model.names:
        return pd.DataFrame(columns=columns), total_runtime
    return pd.DataFrame({column: values[column] for column in columns}), total_runtime


def _sum(values: np.ndarray) -> float:
    """The sum of the values that are not NaN (as pandas sums a column)."""
    return float(np.where(np.isnan(values), 0.0, values).sum())


def _report(profile: Profile, model: PreparedModel, layers: pd.DataFrame, total_runtime: float,
            run_overhead_ms: float, composition: str, note: str | None) -> Report:
    out_of_distribution = layers["out_of_distribution"].to_numpy(dtype=bool)
    runtime = layers["runtime_ms"].to_numpy(dtype=float)
    # Totals need every layer's power; a layer type without a power model makes the totals "not measured".
    power_measured = profile.has_power and len(layers) > 0 and bool(layers["power_w"].notna().all())
    energy = _sum(layers["energy_mj"].to_numpy(dtype=float)) if power_measured else None
    covered = model.coverage
    totals = Totals(
        runtime_ms=total_runtime,
        runtime_low_ms=_sum(layers["runtime_low_ms"].to_numpy(dtype=float)) + run_overhead_ms,
        runtime_high_ms=_sum(layers["runtime_high_ms"].to_numpy(dtype=float)) + run_overhead_ms,
        power_w=energy / total_runtime if energy is not None and total_runtime > 0 else None,
        energy_mj=energy,
        nodes_total=model.nodes_total,
        nodes_modeled=model.nodes_modeled,
        nodes_free=model.nodes_free,
        nodes_unmodeled=len(model.unmodeled),
        unmodeled_by_op=dict(sorted(Counter(node.op_type for node in model.unmodeled).items())),
        layers_out_of_distribution=int(out_of_distribution.sum()),
        runtime_share_out_of_distribution=_sum(runtime[out_of_distribution]) / total_runtime
        if total_runtime > 0 else 0.0,
        batch_size=model.batch_size,
        batch_size_assumed=model.batch_size_assumed,
        run_overhead_ms=run_overhead_ms,
        macs_total=covered.macs_total,
        macs_modeled=covered.macs_modeled,
        lower_bound=covered.lower_bound,
        lower_bound_reasons=covered.reasons,
        data_dependent_layers=covered.data_dependent_layers,
    )
    return Report(
        model=model.source,
        profile_id=profile.id,
        device=profile.description,
        power_measured=power_measured,
        layers=layers,
        totals=totals,
        unmodeled=model.unmodeled,
        input_shapes=model.input_shapes,
        composition=composition,
        device_note=note,
    )


