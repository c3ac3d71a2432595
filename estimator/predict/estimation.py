"""Estimate a model's per-layer and whole-graph runtime, power and energy with a profile.

A kernel profile (timed in context) scores the kernels its device's runtime executes, as the
device's fusion rules give them, and adds the per-run overhead; a layer profile (each layer timed
alone) scores the model's compute nodes and composes them with fitted group scales.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd

from estimator.predict.composition import Composition, KernelComposition, composition_groups
from estimator.predict.coverage import Coverage, coverage
from estimator.predict.profiles import Profile, load_profile
from estimator.predict.report import KERNEL_REPORT_COLUMNS, LAYER_COLUMNS, Report, Totals
from estimator.predict.selection import choose_profile, device_note
from graph.extract import extract_layers
from graph.frames import layer_row, shape_text
from graph.kernels import Kernel, extract_kernels
from graph.kernels.frames import kernel_row
from graph.loading import ModelSource
from graph.records import ConvLayer, DenseLayer, Layer, OtherLayer, PoolLayer, UnmodeledNode, is_costed
from graph.schema import LAYER_TYPES

__all__ = ["estimate"]


def estimate(
    model: ModelSource,
    profile: Profile | str | None = None,
    batch_size: int | None = None,
    input_shapes: dict[str, tuple[int, ...]] | None = None,
    threads: int | None = None,
) -> Report:
    """Per-layer and whole-graph runtime (ms), power (W) and energy (mJ) of `model` on a profile's device.

    `model` is a path, bytes or onnx.ModelProto; `profile` an id, a folder or a loaded Profile (default: the
    profile nearest to this machine at `threads`, ONNX Runtime's default thread count here unless given; the
    report's device_note says which, why and how far). Nothing is ever measured here.
    """
    if profile is None:
        choice = choose_profile(threads)
        loaded, note = load_profile(choice.path), choice.note()
    else:
        loaded = profile if isinstance(profile, Profile) else load_profile(profile)
        note = device_note(loaded.manifest.get("fingerprint"), threads)
    if loaded.unit == "kernels":
        report = _estimate_kernels(model, loaded, batch_size, input_shapes)
    else:
        report = _estimate_layers(model, loaded, batch_size, input_shapes)
    return dataclasses.replace(report, device_note=note)


def _estimate_layers(model, profile: Profile, batch_size, input_shapes) -> Report:
    extracted = extract_layers(model, batch_size=batch_size, input_shapes=input_shapes)
    costed = [layer for layer in extracted.layers if is_costed(layer)]
    composition = Composition.from_dict(profile.manifest.get("composition"))

    def in_graph(predicted: pd.DataFrame, frame: pd.DataFrame, layer_type: str) -> dict[str, np.ndarray]:
        groups = composition_groups(frame, layer_type)
        return {column: composition.apply(predicted[column].to_numpy(), groups)
                for column in ("runtime_ms", "runtime_low_ms", "runtime_high_ms")}

    layers = _score(profile, costed, [layer_row(layer) for layer in costed], in_graph, {})
    layers["power_w"] = layers["power_w"] * composition.power_scale
    covered = coverage(costed, extracted.unmodeled, len(extracted.data_dependent), profile.manifest.get("layer_kinds"))
    counts = _Counts(extracted.node_count, len(costed) + extracted.absorbed_count, len(extracted.layers) - len(costed),
                     extracted.unmodeled, covered)
    return _report(profile, extracted.source, layers, counts, 0.0, extracted.batch_size,
                   extracted.batch_size_assumed, dict(extracted.input_shapes), composition.summary)


def _estimate_kernels(model, profile: Profile, batch_size, input_shapes) -> Report:
    extracted = extract_kernels(model, profile.rules, batch_size=batch_size, input_shapes=input_shapes)
    kernels = extracted.kernels
    composition = KernelComposition.from_dict(profile.manifest["composition"])

    def in_graph(predicted: pd.DataFrame, frame: pd.DataFrame, layer_type: str) -> dict[str, np.ndarray]:
        return {column: composition.in_graph(predicted[column].to_numpy())
                for column in ("runtime_ms", "runtime_low_ms", "runtime_high_ms")}

    extra = {"kernel": [_kernel_label(kernel) for kernel in kernels], "layout": [kernel.layout for kernel in kernels],
             "fused_nodes": [len(kernel.sources) for kernel in kernels]}
    layers = _score(profile, [kernel.layer for kernel in kernels], [kernel_row(kernel) for kernel in kernels],
                    in_graph, extra)
    modeled = sum(len(kernel.sources) for kernel in kernels)
    covered = coverage([kernel.layer for kernel in kernels], extracted.unmodeled, len(extracted.data_dependent),
                       profile.manifest.get("layer_kinds"))
    counts = _Counts(extracted.node_count, modeled, len(extracted.free), extracted.unmodeled, covered)
    return _report(profile, extracted.source, layers, counts, composition.run_overhead_ms, extracted.batch_size,
                   extracted.batch_size_assumed, dict(extracted.input_shapes), composition.summary)


def _score(profile: Profile, records: Sequence[Layer], rows: Sequence[dict], in_graph, extra: dict[str, list]
           ) -> pd.DataFrame:
    """One report row per record, in graph order, scored per layer type and composed in graph."""
    parts = []
    positions = np.arange(len(records))
    for layer_type in LAYER_TYPES:
        chosen = [i for i, record in enumerate(records) if record.layer_type == layer_type]
        if not chosen:
            continue
        frame = pd.DataFrame([rows[i] for i in chosen])
        predicted = profile.predict(frame, layer_type)
        part = pd.DataFrame({
            "position": positions[chosen],
            "name": [records[i].name for i in chosen],
            "op_type": [records[i].op_type for i in chosen],
            "layer_type": layer_type,
            "shape": [_shape_summary(records[i]) for i in chosen],
            **in_graph(predicted, frame, layer_type),
            "power_w": predicted["power_w"].to_numpy(),
            "out_of_distribution": predicted["out_of_distribution"].to_numpy(dtype=bool),
        })
        for column, values in extra.items():
            part[column] = [values[i] for i in chosen]
        parts.append(part)
    if not parts:
        columns = [c for c in LAYER_COLUMNS if c not in ("energy_mj", "runtime_share")]
        return pd.DataFrame(columns=[*columns, *extra])
    return pd.concat(parts, ignore_index=True).sort_values("position", ignore_index=True).drop(columns="position")


class _Counts:
    def __init__(self, total: int, modeled: int, free: int, unmodeled: tuple[UnmodeledNode, ...],
                 coverage: Coverage) -> None:
        self.total, self.modeled, self.free, self.unmodeled = total, modeled, free, unmodeled
        self.coverage = coverage


def _report(profile: Profile, source: str, layers: pd.DataFrame, counts: _Counts, run_overhead_ms: float,
            batch_size: int, batch_size_assumed: bool, input_shapes: dict, composition: str) -> Report:
    layers["energy_mj"] = layers["power_w"] * layers["runtime_ms"]
    total_runtime = float(layers["runtime_ms"].sum()) + run_overhead_ms
    layers["runtime_share"] = layers["runtime_ms"] / total_runtime if total_runtime > 0 else 0.0
    layers = layers[[*LAYER_COLUMNS, *[c for c in KERNEL_REPORT_COLUMNS if c in layers.columns]]]

    # Totals need every layer's power; a layer type without a power model makes the totals "not measured".
    power_measured = profile.has_power and len(layers) > 0 and bool(layers["power_w"].notna().all())
    energy = float(layers["energy_mj"].sum()) if power_measured else None
    covered = counts.coverage
    totals = Totals(
        runtime_ms=total_runtime,
        runtime_low_ms=float(layers["runtime_low_ms"].sum()) + run_overhead_ms,
        runtime_high_ms=float(layers["runtime_high_ms"].sum()) + run_overhead_ms,
        power_w=energy / total_runtime if energy is not None and total_runtime > 0 else None,
        energy_mj=energy,
        nodes_total=counts.total,
        nodes_modeled=counts.modeled,
        nodes_free=counts.free,
        nodes_unmodeled=len(counts.unmodeled),
        unmodeled_by_op=dict(sorted(Counter(node.op_type for node in counts.unmodeled).items())),
        layers_out_of_distribution=int(layers["out_of_distribution"].sum()),
        runtime_share_out_of_distribution=_share(layers, layers["out_of_distribution"].astype(bool), total_runtime),
        batch_size=batch_size,
        batch_size_assumed=batch_size_assumed,
        run_overhead_ms=run_overhead_ms,
        macs_total=covered.macs_total,
        macs_modeled=covered.macs_modeled,
        lower_bound=covered.lower_bound,
        lower_bound_reasons=covered.reasons,
        data_dependent_layers=covered.data_dependent_layers,
    )
    return Report(
        model=source,
        profile_id=profile.id,
        device=profile.description,
        power_measured=power_measured,
        layers=layers,
        totals=totals,
        unmodeled=counts.unmodeled,
        input_shapes=input_shapes,
        composition=composition,
    )


def _kernel_label(kernel: Kernel) -> str:
    """The runtime's op with what it absorbed, e.g. 'Conv+Relu+Sum (NCHWc)'."""
    label = kernel.op_type + (f"+{kernel.activation}" if kernel.activation else "") + ("+Sum" if kernel.has_summand else "")
    return label + (" (NCHWc)" if kernel.layout == "nchwc" and not kernel.op_type.startswith("Reorder") else "")


def _share(layers: pd.DataFrame, chosen: pd.Series, total_runtime: float) -> float:
    """The share of the total runtime that the chosen layers take."""
    return float(layers.loc[chosen, "runtime_ms"].sum()) / total_runtime if total_runtime > 0 else 0.0


def _shape_summary(layer: Layer) -> str:
    if isinstance(layer, ConvLayer):
        text = f"{shape_text(layer.input_chw)}->{shape_text(layer.output_chw)} k{shape_text(layer.kernel)} s{layer.stride[0]}"
        return text + (f" g{layer.groups}" if layer.groups > 1 else "")
    if isinstance(layer, PoolLayer):
        if layer.is_global:
            return f"{shape_text(layer.input_chw)}->{shape_text(layer.output_chw)} global"
        return f"{shape_text(layer.input_chw)}->{shape_text(layer.output_chw)} k{shape_text(layer.kernel)} s{layer.stride[0]}"
    if isinstance(layer, DenseLayer):
        return f"{layer.rows}x{layer.in_features}->{layer.out_features}"
    if isinstance(layer, OtherLayer):
        return shape_text(layer.output_shapes[0]) if layer.output_shapes else ""
    return ""
