"""Estimate a model's per-layer and whole-graph runtime, power and energy with a profile."""

from __future__ import annotations

from collections import Counter

import pandas as pd

from estimator.predict.composition import Composition, composition_groups
from estimator.predict.profiles import Profile, load_profile
from estimator.predict.report import LAYER_COLUMNS, Report, Totals
from graph.extract import extract_layers
from graph.frames import layers_to_frame, shape_text
from graph.loading import ModelSource
from graph.records import ConvLayer, DenseLayer, Layer, OtherLayer, PoolLayer, is_costed
from graph.schema import LAYER_TYPES

__all__ = ["estimate"]


def estimate(
    model: ModelSource,
    profile: Profile | str | None = None,
    batch_size: int | None = None,
    input_shapes: dict[str, tuple[int, ...]] | None = None,
) -> Report:
    """Per-layer and whole-graph runtime (ms), power (W) and energy (mJ) of `model` on a profile's device.

    `model` is a path, bytes or onnx.ModelProto; `profile` an id, a folder or a loaded Profile
    (default: the shipped CPU profile).
    """
    loaded = profile if isinstance(profile, Profile) else load_profile(profile)
    extracted = extract_layers(model, batch_size=batch_size, input_shapes=input_shapes)
    costed = [layer for layer in extracted.layers if is_costed(layer)]
    free_count = len(extracted.layers) - len(costed)
    composition = Composition.from_dict(loaded.manifest.get("composition"))

    parts = []
    for layer_type in LAYER_TYPES:
        of_type = [layer for layer in costed if layer.layer_type == layer_type]
        if not of_type:
            continue
        frame = layers_to_frame(of_type, layer_type)
        predicted = loaded.predict(frame, layer_type)
        groups = composition_groups(frame, layer_type)
        parts.append(pd.DataFrame({
            "index": [layer.index for layer in of_type],
            "name": [layer.name for layer in of_type],
            "op_type": [layer.op_type for layer in of_type],
            "layer_type": layer_type,
            "shape": [_shape_summary(layer) for layer in of_type],
            "runtime_ms": composition.apply(predicted["runtime_ms"].to_numpy(), groups),
            "runtime_low_ms": composition.apply(predicted["runtime_low_ms"].to_numpy(), groups),
            "runtime_high_ms": composition.apply(predicted["runtime_high_ms"].to_numpy(), groups),
            "power_w": predicted["power_w"].to_numpy(),
            "out_of_distribution": predicted["out_of_distribution"].to_numpy(dtype=bool),
        }))
    if parts:
        layers = pd.concat(parts, ignore_index=True).sort_values("index", ignore_index=True).drop(columns="index")
    else:
        layers = pd.DataFrame(columns=[c for c in LAYER_COLUMNS if c not in ("energy_mj", "runtime_share")])
    layers["energy_mj"] = layers["power_w"] * layers["runtime_ms"]
    total_runtime = float(layers["runtime_ms"].sum())
    layers["runtime_share"] = layers["runtime_ms"] / total_runtime if total_runtime > 0 else 0.0
    layers = layers[list(LAYER_COLUMNS)]

    # Totals need every layer's power; a layer type without a power model makes the totals "not measured".
    power_measured = loaded.has_power and len(layers) > 0 and bool(layers["power_w"].notna().all())
    energy = float(layers["energy_mj"].sum()) if power_measured else None
    unmodeled_by_op = dict(sorted(Counter(node.op_type for node in extracted.unmodeled).items()))
    totals = Totals(
        runtime_ms=total_runtime,
        runtime_low_ms=float(layers["runtime_low_ms"].sum()),
        runtime_high_ms=float(layers["runtime_high_ms"].sum()),
        power_w=energy / total_runtime if energy is not None and total_runtime > 0 else None,
        energy_mj=energy,
        nodes_total=extracted.node_count,
        nodes_modeled=len(costed),
        nodes_free=free_count,
        nodes_unmodeled=len(extracted.unmodeled),
        unmodeled_by_op=unmodeled_by_op,
        layers_out_of_distribution=int(layers["out_of_distribution"].sum()),
        batch_size=extracted.batch_size,
        batch_size_assumed=extracted.batch_size_assumed,
    )
    return Report(
        model=extracted.source,
        profile_id=loaded.id,
        device=loaded.description,
        power_measured=power_measured,
        layers=layers,
        totals=totals,
        unmodeled=extracted.unmodeled,
        input_shapes=dict(extracted.input_shapes),
        composition=composition.summary,
    )


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
