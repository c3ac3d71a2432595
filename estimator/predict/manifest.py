"""profile.json, checked against a schema kept as data: one line per key says its type, range and whether it is required.

This schema is the one list of profile.json's keys: estimator.train writes no key it lacks (it checks what
it writes with `closed=True`).

Keys the estimator reads are checked strictly (types, ranges, known feature columns, closed
sets of layer types and composition groups), so a malformed or hostile manifest is a one-line
ProfileError, never a traceback or a silent nonsense estimate. Informational keys (how the data
was measured, versions, validation metrics) are not read and may hold any JSON; unknown
top-level keys are tolerated for the same reason.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from estimator.errors import ProfileError
from estimator.predict.composition import GROUPS
from estimator.predict.units import KERNELS, LAYERS, UNITS, Unit
from graph.kernels import FusionRules
from graph.schema import LAYER_TYPES

__all__ = ["MANIFEST", "known_features", "manifest_unit", "parse_manifest", "validate_manifest"]

Check = Callable[[object, str, dict], None]  # (value, where in the document, the whole document)


class _Invalid(Exception):
    def __init__(self, where: str, expected: str, value: object) -> None:
        super().__init__(f"{where}: expected {expected}, got {_describe(value)}")


@dataclass(frozen=True)
class Key:
    check: Check
    required: bool = False


def known_features(layer_type: str, document: dict) -> tuple[str, ...]:
    """The feature columns a profile of this unit (layers or kernels) scores for `layer_type`."""
    return manifest_unit(document).features[layer_type]


def _categorical(layer_type: str, document: dict) -> tuple[str, ...]:
    return manifest_unit(document).categorical[layer_type]


def manifest_unit(document: dict) -> Unit:
    """The unit a manifest names; LAYERS where it names none (profiles older than units) or an unknown one, which
    the "unit" key's own check refuses."""
    name = document.get("unit")
    return UNITS.get(name, LAYERS) if isinstance(name, str) else LAYERS


# ---------------------------------------------------------------- checks (small, composable)


def anything(value: object, where: str, document: dict) -> None:
    """Informational: not read by the estimator."""


def text(max_chars: int = 2000) -> Check:
    def check(value, where, document):
        if not isinstance(value, str) or len(value) > max_chars:
            raise _Invalid(where, f"a string of at most {max_chars} characters", value)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise _Invalid(where, "valid Unicode text", value) from None
    return check


def number(low: float, high: float) -> Check:
    def check(value, where, document):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not low <= value <= high:
            raise _Invalid(where, f"a finite number from {low:g} to {high:g}", value)
    return check


def integer(low: int, high: int) -> Check:
    def check(value, where, document):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _Invalid(where, f"an integer from {low} to {high}", value)
    return check


def one_of(*choices: str) -> Check:
    def check(value, where, document):
        if not isinstance(value, str) or value not in choices:
            raise _Invalid(where, "one of " + ", ".join(repr(c) for c in choices), value)
    return check


def nullable(inner: Check) -> Check:
    def check(value, where, document):
        if value is not None:
            inner(value, where, document)
    return check


def list_of(inner: Check, max_items: int = 10_000) -> Check:
    def check(value, where, document):
        if not isinstance(value, list) or len(value) > max_items:
            raise _Invalid(where, f"a list of at most {max_items} items", value)
        for position, item in enumerate(value):
            inner(item, f"{where}[{position}]", document)
    return check


def interval(low: float, high: float) -> Check:
    """[low, high]: two finite numbers in range, low <= high."""
    def check(value, where, document):
        bound = number(low, high)
        if not isinstance(value, list) or len(value) != 2:
            raise _Invalid(where, f"two numbers [low, high] from {low:g} to {high:g}", value)
        bound(value[0], f"{where}[0]", document)
        bound(value[1], f"{where}[1]", document)
        if value[0] > value[1]:
            raise _Invalid(where, "low <= high", value)
    return check


def record(fields: dict[str, Key], open_: bool = False) -> Check:
    """A JSON object with these keys; other keys are an error unless `open_` (then they are not read)."""
    def check(value, where, document):
        if not isinstance(value, dict):
            raise _Invalid(where, "an object", value)
        for key, rule in fields.items():
            if key in value:
                rule.check(value[key], f"{where}.{key}", document)
            elif rule.required:
                raise _Invalid(f"{where}.{key}", "a value (the key is required)", None)
        unknown = sorted(set(value) - set(fields)) if not open_ else []
        if unknown:
            raise _Invalid(f"{where}.{unknown[0]}", "no such key (allowed: " + ", ".join(fields) + ")", value[unknown[0]])
    return check


def mapping(keys: Callable[[str, dict], tuple[str, ...]], inner: Check, layer_type: str = "") -> Check:
    """An object whose keys come from a closed set and whose values all pass `inner`."""
    def check(value, where, document):
        if not isinstance(value, dict):
            raise _Invalid(where, "an object", value)
        allowed = keys(layer_type, document)
        for key, item in value.items():
            if key not in allowed:
                raise _Invalid(f"{where}.{key}", "a known name (" + ", ".join(allowed[:8])
                               + (", ..." if len(allowed) > 8 else "") + ")", key)
            inner(item, f"{where}.{key}", document)
    return check


def per_layer_type(make: Callable[[str], Check]) -> Check:
    """An object keyed by layer type (convolutional, pooling, dense, other), each value checked by make(type)."""
    def check(value, where, document):
        if not isinstance(value, dict):
            raise _Invalid(where, "an object keyed by layer type", value)
        for layer_type, item in value.items():
            if layer_type not in LAYER_TYPES:
                raise _Invalid(f"{where}.{layer_type}", "a layer type (" + ", ".join(LAYER_TYPES) + ")", layer_type)
            make(layer_type)(item, f"{where}.{layer_type}", document)
    return check


def fusion_rules(value, where, document):
    if not isinstance(value, dict):
        raise _Invalid(where, "an object of fusion rules", value)
    try:
        FusionRules.from_dict(value)
    except (ValueError, TypeError) as error:
        raise _Invalid(where, f"valid fusion rules ({error})", value) from None


def composition(value, where, document):
    if isinstance(value, dict) and value.get("method") == "kernels":
        _KERNEL_COMPOSITION(value, where, document)
    else:
        _LAYER_COMPOSITION(value, where, document)


def _features_of(layer_type: str) -> Check:
    return list_of(lambda value, where, document: one_of(*known_features(layer_type, document))(value, where, document))


def _categorical_of(layer_type: str) -> Check:
    return list_of(lambda value, where, document: one_of(*_categorical(layer_type, document))(value, where, document))


def _baseline_of(layer_type: str) -> Check:
    """A linear baseline: columns among the layer type's features, one non-negative coefficient each plus a constant."""
    def check(value, where, document):
        record({"columns": Key(list_of(one_of(*known_features(layer_type, document)), 64), required=True),
                "coefficients": Key(list_of(number(0, 1e12), 65), required=True),
                "by": Key(_by_of(layer_type)),
                "groups": Key(_groups),
                "shared": Key(_shared),
                "fallback_by": Key(_categorical_feature(layer_type)),
                "fallback_groups": Key(_groups)})(value, where, document)
        for name, coefficients in (("coefficients", value["coefficients"]),
                                   *((f"groups.{g}", c) for g, c in (value.get("groups") or {}).items()),
                                   *((f"fallback_groups.{g}", c) for g, c in (value.get("fallback_groups") or {}).items())):
            if len(coefficients) != len(value["columns"]) + 1:
                raise _Invalid(f"{where}.{name}", f"{len(value['columns']) + 1} numbers", coefficients)
        for name in ("groups", "shared"):
            if value.get(name) and "by" not in value:
                raise _Invalid(f"{where}.by", f"the column the {name} are values of", None)
        if value.get("fallback_groups") and "fallback_by" not in value:
            raise _Invalid(f"{where}.fallback_by", "the column the fallback_groups are values of", None)
    return check


def _categorical_feature(layer_type: str) -> Check:
    def check(value, where, document):
        one_of(*_categorical(layer_type, document))(value, where, document)
    return check


def _by_of(layer_type: str) -> Check:
    """What a baseline's groups are values of: a categorical feature, or a list of 1-4 features (joined values)."""
    def check(value, where, document):
        if isinstance(value, list):
            if not 1 <= len(value) <= 4:
                raise _Invalid(where, "a list of 1 to 4 feature names", value)
            list_of(one_of(*known_features(layer_type, document)), 4)(value, where, document)
        else:
            _categorical_feature(layer_type)(value, where, document)
    return check


def _groups(value, where, document):
    """A baseline's coefficients per value of its "by" column: at most 1,000 values, each a list of numbers."""
    if not isinstance(value, dict) or len(value) > 1000:
        raise _Invalid(where, "an object of at most 1000 values", value)
    for key, coefficients in value.items():
        text(200)(key, f"{where} key", document)
        list_of(number(0, 1e12), 65)(coefficients, f"{where}.{key}", document)


def _shared(value, where, document):
    """Values of a baseline's "by" column that are fitted as one group: value -> group name (at most 1,000)."""
    if not isinstance(value, dict) or len(value) > 1000:
        raise _Invalid(where, "an object of at most 1000 values", value)
    for key, group in value.items():
        text(200)(key, f"{where} key", document)
        text(200)(group, f"{where}.{key}", document)


def _ranges_of(layer_type: str) -> Check:
    numeric = mapping(lambda lt, document: tuple(c for c in known_features(lt, document)
                                                 if c not in _categorical(lt, document)),
                      interval(-1e300, 1e300), layer_type)
    categories = mapping(_categorical, list_of(text(200)), layer_type)
    return record({"numeric": Key(numeric), "categories": Key(categories), "largest_macs_by_class": Key(_class_maxima)})


def _class_maxima(value, where, document):
    """The largest MACs trained per op class: at most 1,000 classes, each a number."""
    if not isinstance(value, dict) or len(value) > 1000:
        raise _Invalid(where, "an object of at most 1000 values", value)
    for key, macs in value.items():
        text(200)(key, f"{where} key", document)
        number(0, 1e300)(macs, f"{where}.{key}", document)


_FILE = nullable(text(255))
_LAYER_COMPOSITION = record({
    "runtime_scale": Key(mapping(lambda lt, document: GROUPS, number(0, 1e6))),
    "per_layer_overhead_ms": Key(number(0, 1e6)),
    "summary": Key(text()),
    "power_scale": Key(number(0, 1e6)),
})
_KERNEL_COMPOSITION = record({
    "method": Key(one_of("kernels"), required=True),
    "run_overhead_ms": Key(number(0, 1e6), required=True),
    "profiler_overhead_ms": Key(number(0, 1e6), required=True),
    "small_graph_exponent": Key(number(0, 10)),
    "summary": Key(text()),
})

# ---------------------------------------------------------------- the schema: one line per key

MANIFEST: dict[str, Key] = {
    "format_version": Key(integer(0, 1_000_000), required=True),
    "profile_id": Key(text(200)),
    "description": Key(text(2000)),
    "created_at": Key(text(100)),
    "unit": Key(lambda value, where, document: one_of(*UNITS)(value, where, document)),  # a registered unit's name
    "model_files": Key(per_layer_type(lambda lt: record({"runtime": Key(_FILE), "power": Key(_FILE)})), required=True),
    "features": Key(per_layer_type(_features_of)),
    "categorical_features": Key(per_layer_type(_categorical_of)),
    "feature_ranges": Key(per_layer_type(_ranges_of)),
    "intervals": Key(per_layer_type(lambda lt: record({
        "runtime_log_ratio": Key(interval(-20, 20)), "coverage": Key(number(0, 1)), "from": Key(text())}, open_=True))),
    "composition": Key(nullable(composition)),
    "constant_runtime_ms": Key(nullable(per_layer_type(lambda lt: number(0, 1e9)))),
    "baselines": Key(nullable(per_layer_type(_baseline_of))),
    "fusion_rules": Key(nullable(fusion_rules)),
    "device": Key(anything),
    "fingerprint": Key(nullable(record({
        "intra_op_threads": Key(integer(0, 1 << 20)), "provider": Key(text(200)), "optimization_level": Key(text(200)),
        "cpu_model": Key(text(500)), "isa": Key(list_of(text(64), 200)), "gpu_name": Key(text(500)),
        "onnxruntime": Key(text(100))}, open_=True))),
    "layer_kinds": Key(nullable(list_of(text(64), 200))),
    # Informational: written by estimator.train for people and tools, never read by the estimator.
    "measured": Key(anything),  # the measuring machine, backend, power sensor and method (device.json)
    "units": Key(anything),
    "origin": Key(anything),  # trained from scratch, or transferred from a base profile
    "targets": Key(anything),
    "training_data": Key(anything),  # path, fingerprint, rows, zoo models
    "catboost_params": Key(anything),
    "versions": Key(anything),  # the packages that made the profile
    "models_skipped": Key(anything),
    "validation": Key(anything),  # held-out metrics
}


def parse_manifest(data: bytes, where: Path, format_version: int) -> dict:
    """profile.json's bytes -> the validated manifest; a one-line ProfileError for anything malformed."""
    try:
        document = json.loads(data.decode("utf-8-sig"))  # a byte-order mark, as some editors write, is fine
    except UnicodeDecodeError:
        raise ProfileError(f"{where}: not UTF-8 text; retrain or re-download the profile") from None
    except json.JSONDecodeError as error:
        raise ProfileError(f"{where}: not valid JSON ({error.msg} at line {error.lineno}); retrain the profile") from None
    except (ValueError, RecursionError) as error:  # a number too long to read, or nesting too deep
        reason = "nested too deeply" if isinstance(error, RecursionError) else "a number too long to read"
        raise ProfileError(f"{where}: not valid JSON ({reason}); retrain the profile") from None
    validate_manifest(document, where, format_version)
    return document


def validate_manifest(document: object, where: Path, format_version: int, closed: bool = False) -> None:
    """Check a parsed manifest against MANIFEST; the format version first, so an old or new profile says so.

    `closed`: a key MANIFEST lacks is an error too (for what we write; reading tolerates unknown keys)."""
    if not isinstance(document, dict):
        raise ProfileError(f"{where}: expected a JSON object, got {_describe(document)}; retrain the profile")
    if document.get("format_version") != format_version:
        raise ProfileError(
            f"{where}: format_version {_describe(document.get('format_version'))}, this package reads {format_version}; "
            "retrain it with scripts/train.py"
        )
    try:
        record(MANIFEST, open_=not closed)(document, "profile", document)
        _consistent(document)
    except _Invalid as error:
        raise ProfileError(f"{where}: {error}; retrain or re-download the profile") from None


def _consistent(document: dict) -> None:
    """What one key alone cannot say: a kernel profile composes kernels, a layer profile layers."""
    method = (document.get("composition") or {}).get("method", "layers")
    if manifest_unit(document) is KERNELS and method != "kernels":
        raise _Invalid("profile.composition", "the kernels composition of a kernel profile",
                       document.get("composition"))
    if manifest_unit(document) is LAYERS and method == "kernels":
        raise _Invalid("profile.composition", "a layers composition (this profile scores layers)",
                       document.get("composition"))


def _describe(value: object) -> str:
    """A short one-line picture of a JSON value for an error message."""
    try:
        shown = json.dumps(value, ensure_ascii=True)
    except (TypeError, ValueError, RecursionError):
        shown = type(value).__name__
    return shown if len(shown) <= 60 else shown[:57] + "..."
