"""Profiles: one device's trained models (native .cbm files) and their profile.json manifest, loaded."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from catboost.core import CatBoostRegressor

from estimator.errors import ProfileError
from estimator.predict.manifest import known_features, manifest_unit, parse_manifest
from estimator.predict.models import BEYOND_BY, LayerModels, predict_features
from estimator.predict.profile_files import (
    MAX_MANIFEST_BYTES,
    MAX_MODEL_BYTES,
    check_models_in_child,
    read_profile_file,
    resolve_folder,
)
from estimator.predict.units import LAYERS, Unit
from estimator.predict.userdata import user_profile_dir
from graph.kernels import NO_FUSION, FusionRules

__all__ = [
    "DEFAULT_PROFILE",
    "FORMAT_VERSION",
    "PROFILE_DIR",
    "Profile",
    "ProfileInfo",
    "list_profiles",
    "load_profile",
    "read_manifest_leniently",
]

PROFILE_DIR = Path(__file__).resolve().parents[1] / "profiles"
DEFAULT_PROFILE = "amd-epyc-f23m49-avx2-t1"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ProfileInfo:
    id: str
    path: Path
    description: str
    has_power: bool
    origin: str = "shipped"  # or "local": made on this machine by estimate-calibrate
    fingerprint: dict | None = None
    created_at: str = ""
    unit: str = LAYERS.name  # the name of what it scores (estimator.predict.units.UNITS), as listed: not validated


@dataclass(frozen=True)
class Profile:
    """A loaded profile: its manifest and fitted models."""

    id: str
    path: Path
    manifest: dict
    models: LayerModels
    _rules: FusionRules = NO_FUSION

    @property
    def has_power(self) -> bool:
        return bool(self.models.power)

    @property
    def description(self) -> str:
        return str(self.manifest.get("description", self.id))

    @property
    def unit(self) -> Unit:
        """What the profile scores: LAYERS (each timed alone) or KERNELS (timed inside whole graphs)."""
        return self.models.unit

    @property
    def rules(self) -> FusionRules:
        """The device's fusion rules: how its runtime turns a model's nodes into kernels."""
        return self._rules

    def predict(self, frame: pd.DataFrame, layer_type: str) -> pd.DataFrame:
        """Per-row runtime_ms with an 80% interval, power_w, and an out-of-distribution flag."""
        features = self.unit.featurize(frame, layer_type)
        predicted = predict_features(self.models, features, layer_type, self._beyond_largest(features, layer_type))
        low, high = self.manifest.get("intervals", {}).get(layer_type, {}).get("runtime_log_ratio", [0.0, 0.0])
        predicted["runtime_low_ms"] = predicted["runtime_ms"] * math.exp(low)
        predicted["runtime_high_ms"] = predicted["runtime_ms"] * math.exp(high)
        predicted["out_of_distribution"] = self._outside_training(features, layer_type)
        return predicted

    def _beyond_largest(self, features: pd.DataFrame, layer_type: str) -> np.ndarray | None:
        """Rows of more MACs than any of their op class (BEYOND_BY) this layer type was trained on, or where the
        profile records no class maxima (or none for the row's class), than any of the layer type (None: no MACs
        range recorded)."""
        ranges = self.manifest.get("feature_ranges", {}).get(layer_type, {})
        bounds = ranges.get("numeric", {}).get("macs")
        if not bounds or "macs" not in features.columns:
            return None
        by_class = ranges.get("largest_macs_by_class") or {}
        if by_class and BEYOND_BY in features.columns:
            largest = features[BEYOND_BY].astype(str).map(by_class).fillna(bounds[1]).to_numpy(dtype="float64")
        else:
            largest = float(bounds[1])
        return features["macs"].to_numpy(dtype="float64") > largest

    def _outside_training(self, features: pd.DataFrame, layer_type: str) -> pd.Series:
        ranges = self.manifest.get("feature_ranges", {}).get(layer_type)
        if features.empty or not ranges:
            return pd.Series(layer_type not in self.models.runtime, index=features.index)
        flags = np.zeros(len(features), dtype=bool)
        numeric = ranges.get("numeric", {})
        if numeric:  # every numeric column at once: one comparison of the matrix with the bounds
            values = features[list(numeric)].to_numpy(dtype="float64")
            bounds = np.array(list(numeric.values()), dtype="float64")
            flags |= ((values < bounds[:, 0]) | (values > bounds[:, 1])).any(axis=1)
        for column, categories in ranges.get("categories", {}).items():
            flags |= ~features[column].isin(categories).to_numpy(dtype=bool)
        return pd.Series(flags, index=features.index)


def list_profiles(directory: Path = PROFILE_DIR, local: Path | None = None) -> list[ProfileInfo]:
    """The profiles made on this machine (user folder, or `local`) and those shipped in the package.

    Listing reads each profile.json as untrusted (no FIFO, no symlink out, bounded) but does not
    validate it: a broken profile is listed, and refused with its reason when it is loaded.
    """
    infos = []
    for origin, folder in (("local", local or user_profile_dir()), ("shipped", directory)):
        for manifest_path in sorted(folder.glob("*/profile.json")) if folder.is_dir() else ():
            manifest = read_manifest_leniently(manifest_path.parent)
            if manifest is None:
                continue
            files = manifest.get("model_files")
            has_power = isinstance(files, dict) and any(isinstance(entry, dict) and bool(entry.get("power"))
                                                        for entry in files.values())
            description = manifest.get("description", "")
            fingerprint = manifest.get("fingerprint")
            infos.append(ProfileInfo(manifest_path.parent.name, manifest_path.parent,
                                     description if isinstance(description, str) else "", has_power, origin,
                                     dict(fingerprint) if isinstance(fingerprint, dict) else None,
                                     str(manifest.get("created_at", "")), str(manifest.get("unit", LAYERS.name))))
    return infos


def read_manifest_leniently(path: Path) -> dict | None:
    """profile.json of the folder `path` read safely and parsed, not validated; None when it is unreadable."""
    try:
        document = json.loads(read_profile_file(path, "profile.json", MAX_MANIFEST_BYTES).decode("utf-8-sig"))
    except (ProfileError, ValueError, RecursionError):
        return None
    return document if isinstance(document, dict) else None


def _read_manifest(path: Path) -> dict:
    """profile.json of the profile folder `path`, read as untrusted input and validated (estimator.predict.manifest)."""
    return parse_manifest(read_profile_file(path, "profile.json", MAX_MANIFEST_BYTES), path / "profile.json",
                          FORMAT_VERSION)


def load_profile(reference: str | Path | None = None) -> Profile:
    """Load a profile by id (shipped) or by folder path; None gives the default profile.

    A profile is untrusted input: see estimator.predict.manifest and estimator.predict.profile_files.
    """
    reference = DEFAULT_PROFILE if reference is None else reference
    path = resolve_folder(reference, (user_profile_dir(), PROFILE_DIR))
    if path is None:
        known = ", ".join(info.id for info in list_profiles()) or "none"
        raise ProfileError(
            f"unknown profile {str(reference)!r}: not a shipped id ({known}) nor a folder with profile.json; "
            "list them with `estimate --list-profiles`"
        )
    manifest = _read_manifest(path)
    blobs = {(layer_type, target): read_profile_file(path, name, MAX_MODEL_BYTES)
             for layer_type, files in manifest["model_files"].items()
             for target, name in files.items() if name}
    if not _trusted(path):
        check_models_in_child(path, {manifest["model_files"][t][target]: blob for (t, target), blob in blobs.items()})
    models = LayerModels()
    for (layer_type, target), blob in blobs.items():
        getattr(models, target)[layer_type] = _catboost_model(path, manifest["model_files"][layer_type][target], blob,
                                                              layer_type, manifest)
    models.constant_runtime_ms = {str(t): float(v) for t, v in (manifest.get("constant_runtime_ms") or {}).items()}
    models.baselines = {str(t): _baseline(v) for t, v in (manifest.get("baselines") or {}).items()}
    if not models.runtime and not models.constant_runtime_ms:
        raise ProfileError(f"{path}: the profile has no runtime models; retrain it")
    models.unit = manifest_unit(manifest)
    rules = FusionRules.from_dict(manifest["fusion_rules"]) if manifest.get("fusion_rules") else NO_FUSION
    return Profile(str(manifest.get("profile_id", path.name)), path, manifest, models, rules)


def _baseline(entry: dict) -> dict[str, object]:
    """A validated baseline of profile.json: its columns and coefficients, and its groups' coefficients (and the
    values that share a group, and the fallback column's groups) if any."""
    baseline: dict[str, object] = {"columns": list(entry["columns"]),
                                   "coefficients": [float(c) for c in entry["coefficients"]]}
    if entry.get("groups"):
        baseline["by"] = [str(c) for c in entry["by"]] if isinstance(entry["by"], list) else str(entry["by"])
        baseline["groups"] = {str(g): [float(c) for c in v] for g, v in entry["groups"].items()}
        if entry.get("shared"):
            baseline["shared"] = {str(value): str(group) for value, group in entry["shared"].items()}
        if entry.get("fallback_groups"):
            baseline["fallback_by"] = str(entry["fallback_by"])
            baseline["fallback_groups"] = {str(g): [float(c) for c in v] for g, v in entry["fallback_groups"].items()}
    return baseline


def _trusted(path: Path) -> bool:
    """Shipped profiles come with the code and local ones were written here by estimate-calibrate; a model file
    from anywhere else is first loaded in a child process (a corrupt .cbm can crash CatBoost)."""
    folder = path.resolve()
    return any(folder.is_relative_to(root.resolve()) for root in (PROFILE_DIR, user_profile_dir()))


def _catboost_model(path: Path, name: str, blob: bytes, layer_type: str, manifest: dict) -> CatBoostRegressor:
    """A model file's CatBoost model, which must score exactly the features of its layer type (not a swapped file)."""
    model = CatBoostRegressor()
    try:
        model.load_model(blob=blob)
    except Exception as error:  # CatBoost raises CatBoostError for corrupt files
        reason = " ".join(str(error).split())[:200]
        raise ProfileError(f"{path}: file {name}: not a CatBoost model ({reason}); retrain the profile") from None
    # The features the profile lists for the type (those of its unit when it was trained): a subset of the unit's.
    expected = list((manifest.get("features") or {}).get(layer_type) or known_features(layer_type, manifest))
    unit = manifest_unit(manifest)
    categorical_columns = [expected.index(column) for column in unit.categorical[layer_type] if column in expected]
    if list(model.feature_names_ or []) != expected or sorted(model.get_cat_feature_indices()) != categorical_columns:
        raise ProfileError(f"{path}: file {name}: is not a {layer_type} model for {unit.name} (it scores "
                           f"{len(model.feature_names_ or [])} other columns); are the model files swapped?")
    return model
