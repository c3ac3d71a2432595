"""Profiles: one device's trained models (native .cbm files) and their profile.json manifest, loaded."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from catboost import CatBoostRegressor

from estimator.errors import ProfileError
from estimator.predict.features import featurize
from estimator.predict.models import LayerModels, predict_features
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
]

PROFILE_DIR = Path(__file__).resolve().parents[1] / "profiles"
DEFAULT_PROFILE = "cpu-epyc-1thread"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ProfileInfo:
    id: str
    path: Path
    description: str
    has_power: bool
    origin: str = "shipped"  # or "local": made on this machine by estimate-calibrate
    fingerprint: dict | None = None


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
    def unit(self) -> str:
        """What the profile scores: "layers" (each timed alone) or "kernels" (timed inside whole graphs)."""
        return self.models.unit

    @property
    def rules(self) -> FusionRules:
        """The device's fusion rules: how its runtime turns a model's nodes into kernels."""
        return self._rules

    def predict(self, frame: pd.DataFrame, layer_type: str) -> pd.DataFrame:
        """Per-row runtime_ms with an 80% interval, power_w, and an out-of-distribution flag."""
        features = featurize(frame, layer_type, self.unit)
        predicted = predict_features(self.models, features, layer_type)
        low, high = self.manifest.get("intervals", {}).get(layer_type, {}).get("runtime_log_ratio", [0.0, 0.0])
        predicted["runtime_low_ms"] = predicted["runtime_ms"] * math.exp(low)
        predicted["runtime_high_ms"] = predicted["runtime_ms"] * math.exp(high)
        predicted["out_of_distribution"] = self._outside_training(features, layer_type)
        return predicted

    def _outside_training(self, features: pd.DataFrame, layer_type: str) -> pd.Series:
        ranges = self.manifest.get("feature_ranges", {}).get(layer_type)
        if features.empty or not ranges:
            return pd.Series(layer_type not in self.models.runtime, index=features.index)
        flags = pd.Series(False, index=features.index)
        for column, bounds in ranges.get("numeric", {}).items():
            values = features[column]
            flags |= (values < bounds[0]) | (values > bounds[1])
        for column, categories in ranges.get("categories", {}).items():
            flags |= ~features[column].isin(categories)
        return flags


def list_profiles(directory: Path = PROFILE_DIR, local: Path | None = None) -> list[ProfileInfo]:
    """The profiles made on this machine (user folder, or `local`) and those shipped in the package."""
    infos = []
    for origin, folder in (("local", local or user_profile_dir()), ("shipped", directory)):
        for manifest_path in sorted(folder.glob("*/profile.json")) if folder.is_dir() else ():
            try:
                manifest = json.loads(manifest_path.read_text())
            except (OSError, ValueError):
                continue
            has_power = any(entry.get("power") for entry in manifest.get("model_files", {}).values())
            infos.append(ProfileInfo(manifest_path.parent.name, manifest_path.parent, manifest.get("description", ""),
                                     has_power, origin, dict(manifest.get("fingerprint") or {})))
    return infos


def load_profile(reference: str | Path | None = None) -> Profile:
    """Load a profile by id (shipped) or by folder path; None gives the default profile."""
    reference = DEFAULT_PROFILE if reference is None else reference
    path = Path(reference)
    if not (path / "profile.json").exists():
        candidates = (user_profile_dir() / str(reference), PROFILE_DIR / str(reference))
        found = next((folder for folder in candidates if (folder / "profile.json").exists()), None)
        if found is not None:
            path = found
        else:
            known = ", ".join(info.id for info in list_profiles()) or "none"
            raise ProfileError(
                f"unknown profile {str(reference)!r}: not a shipped id ({known}) nor a folder with profile.json; "
                "list them with `estimate --list-profiles`"
            )
    manifest_path = path / "profile.json"
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as error:
        raise ProfileError(f"{manifest_path}: not valid JSON ({error.msg}); retrain the profile") from None
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ProfileError(
            f"{manifest_path}: format_version {manifest.get('format_version')!r}, this package reads {FORMAT_VERSION}; "
            "retrain it with scripts/train.py"
        )
    models = LayerModels()
    for layer_type, files in manifest.get("model_files", {}).items():
        for target in ("runtime", "power"):
            name = files.get(target)
            if not name:
                continue
            model_path = path / name
            if not model_path.exists():
                raise ProfileError(f"{path}: model file {name} is missing; retrain the profile")
            model = CatBoostRegressor()
            try:
                model.load_model(str(model_path))
            except Exception as error:  # CatBoost raises CatBoostError for corrupt files
                raise ProfileError(f"{model_path}: not a CatBoost model ({str(error).splitlines()[0]})") from None
            getattr(models, target)[layer_type] = model
    models.constant_runtime_ms = {str(t): float(v) for t, v in (manifest.get("constant_runtime_ms") or {}).items()}
    if not models.runtime and not models.constant_runtime_ms:
        raise ProfileError(f"{path}: the profile has no runtime models; retrain it")
    unit = manifest.get("unit", "layers")
    if unit not in ("layers", "kernels"):
        raise ProfileError(f"{manifest_path}: unit {unit!r} is neither 'layers' nor 'kernels'; retrain the profile")
    models.unit = unit
    try:
        rules = FusionRules.from_dict(manifest["fusion_rules"]) if manifest.get("fusion_rules") else NO_FUSION
    except (ValueError, TypeError) as error:
        raise ProfileError(f"{manifest_path}: fusion_rules: {error}; retrain the profile") from None
    return Profile(str(manifest.get("profile_id", path.name)), path, manifest, models, rules)
