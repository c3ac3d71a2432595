"""Hostile profiles (issue 12): a downloaded profile is untrusted; every failure is a one-line ProfileError."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import pytest

from estimator import estimate, load_profile
from estimator.errors import ProfileError
from estimator.predict.profile_files import MAX_MANIFEST_BYTES
from estimator.predict.profiles import PROFILE_DIR
from estimator.testing import small_cnn

SHIPPED = PROFILE_DIR / "cpu-epyc-1thread"
# One bit of this file that makes CatBoost itself crash (SIGSEGV) when it loads the model.
CRASHING_BIT = ("dense_runtime.cbm", 653159, 0x10)


@pytest.fixture
def profile(tmp_path) -> Path:
    """A copy of the shipped CPU profile, outside the package (so it is untrusted)."""
    folder = tmp_path / "downloaded"
    shutil.copytree(SHIPPED, folder)
    return folder


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "profile.json").read_text(encoding="utf-8"))


def _write(folder: Path, manifest) -> None:
    (folder / "profile.json").write_text(json.dumps(manifest), encoding="utf-8")


def _refused(folder: Path, *fragments: str) -> str:
    signal.alarm(60)  # a blocking open (a FIFO) would hang here
    try:
        with pytest.raises(ProfileError) as caught:
            load_profile(folder)
    finally:
        signal.alarm(0)
    message = str(caught.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


def test_a_copied_profile_loads_and_estimates(profile):
    assert estimate(small_cnn(), profile=str(profile)).totals.runtime_ms > 0


@pytest.mark.parametrize("name", ["../../../../etc/passwd", "/etc/shadow", "/dev/zero", "..", "sub/../../x.cbm",
                                  "C:\\Windows\\x.cbm", "a\0b", 7, ["x.cbm"]])
def test_model_file_names_outside_the_folder_are_refused(profile, name):
    manifest = _manifest(profile)
    manifest["model_files"]["dense"]["runtime"] = name
    _write(profile, manifest)
    _refused(profile, str(profile))


def test_a_symlink_out_of_the_folder_is_refused(profile, tmp_path):
    outside = tmp_path / "elsewhere.cbm"
    shutil.copy(SHIPPED / "dense_runtime.cbm", outside)
    (profile / "dense_runtime.cbm").unlink()
    (profile / "dense_runtime.cbm").symlink_to(outside)
    _refused(profile, "leads outside the profile folder")


def test_a_symlink_inside_the_folder_is_fine(profile):
    (profile / "dense_runtime.cbm").rename(profile / "real.cbm")
    (profile / "dense_runtime.cbm").symlink_to("real.cbm")
    assert "dense" in load_profile(profile).models.runtime


@pytest.mark.parametrize("which", ["dense_runtime.cbm", "profile.json"])
def test_a_fifo_is_refused_without_hanging(profile, which):
    (profile / which).unlink()
    os.mkfifo(profile / which)
    _refused(profile, "not a regular file")


def test_a_folder_as_model_file_is_refused(profile):
    (profile / "dense_runtime.cbm").unlink()
    (profile / "dense_runtime.cbm").mkdir()
    _refused(profile, "not a regular file")


def test_a_profile_json_over_the_size_limit_is_refused(profile):
    manifest = _manifest(profile)
    manifest["padding"] = "x" * MAX_MANIFEST_BYTES
    _write(profile, manifest)
    _refused(profile, "allowed")


@pytest.mark.parametrize(("raw", "fragment"), [
    (b'{"format_version": 1, "descr\xff": 1}', "not UTF-8"),
    (b"[]", "expected a JSON object"),
    (b"null", "expected a JSON object"),
    (b"", "not valid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    (b'{"format_version": 1' + b"0" * 5000 + b"}", "not valid JSON"),
])
def test_malformed_manifests_are_refused(profile, raw, fragment):
    (profile / "profile.json").write_bytes(raw)
    _refused(profile, fragment)


@pytest.mark.parametrize(("key", "value", "fragment"), [
    ("model_files", [], "model_files"),
    ("model_files", {"dense": {"runtime": "dense_runtime.cbm", "extra": "x"}}, "no such key"),
    ("model_files", {"transformer": {"runtime": "dense_runtime.cbm"}}, "a layer type"),
    ("features", {"dense": ["batch_size", "no_such_column"]}, "no_such_column"),
    ("feature_ranges", {"dense": {"numeric": {"no_such_column": [0, 1]}}}, "no_such_column"),
    ("baselines", {"dense": {"columns": ["macs"], "coefficients": [1e-8, 0.004], "groups": {"Gemm": [1e-8, 0.004]}}},
     "baselines.dense.by"),
    ("baselines", {"dense": {"columns": ["macs"], "coefficients": [1e-8, 0.004], "by": "macs",
                             "groups": {"Gemm": [1e-8, 0.004]}}}, "baselines.dense.by"),
    ("baselines", {"other": {"columns": ["input_elements"], "coefficients": [1e-8, 0.004], "by": "op_type",
                             "groups": {"Add": [1e-8]}}}, "baselines.other.groups.Add"),
    ("baselines", {"other": {"columns": ["input_elements"], "coefficients": [1e-8, 0.004], "by": "op_type",
                             "groups": {"Add|Mul": [1e-8, 0.004]}, "shared": {"Add": 1}}}, "baselines.other.shared.Add"),
    ("baselines", {"other": {"columns": ["input_elements"], "coefficients": [1e-8, 0.004],
                             "shared": {"Add": "Add|Mul"}}}, "baselines.other.by"),
    ("baselines", {"other": {"columns": ["input_elements"], "coefficients": [1e-8, 0.004], "by": "op_type",
                             "groups": {"Add": [1e-8, 0.004]}, "fallback_groups": {"copy": [1e-8, 0.004]}}},
     "baselines.other.fallback_by"),
    ("baselines", {"other": {"columns": ["input_elements"], "coefficients": [1e-8, 0.004], "by": "op_type",
                             "groups": {"Add": [1e-8, 0.004]}, "fallback_by": "op_type",
                             "fallback_groups": {"copy": [1e-8]}}}, "baselines.other.fallback_groups.copy"),
    ("baselines", {"convolutional": {"columns": ["macs"], "coefficients": [1e-8, 0.004], "by": ["macs", "nope"],
                                     "groups": {"1|2": [1e-8, 0.004]}}}, "baselines.convolutional.by[1]"),
    ("baselines", {"convolutional": {"columns": ["macs"], "coefficients": [1e-8, 0.004], "by": [],
                                     "groups": {"1|2": [1e-8, 0.004]}}}, "baselines.convolutional.by"),
    ("feature_ranges", {"dense": {"numeric": {"macs": [5, 1]}}}, "low <= high"),
    ("composition", {"runtime_scale": [1, 2]}, "composition.runtime_scale"),
    ("composition", {"per_layer_overhead_ms": float("nan")}, "finite"),
    ("composition", {"method": "kernels", "run_overhead_ms": 0.1}, "profiler_overhead_ms"),
    ("intervals", {"dense": {"runtime_log_ratio": [-1e308, 1e308]}}, "runtime_log_ratio"),
    ("intervals", {"dense": {"runtime_log_ratio": "wide"}}, "runtime_log_ratio"),
    ("format_version", "1", "format_version"),
    ("description", "\ud800", "valid Unicode"),
    ("unit", "bogus", "unit"),
    ("fusion_rules", {"nchwc_block": 99}, "fusion_rules"),
])
def test_wrong_types_and_ranges_are_refused(profile, key, value, fragment):
    manifest = _manifest(profile)
    manifest[key] = value
    _write(profile, manifest)
    _refused(profile, fragment)


def test_unknown_informational_keys_are_tolerated(profile):
    manifest = _manifest(profile)
    manifest["fingerprint"] = {"cpu": "x", "cores": 2}
    manifest["device"] = "anything"
    _write(profile, manifest)
    assert load_profile(profile).id == "cpu-epyc-1thread"


def test_swapped_model_files_are_refused(profile):
    manifest = _manifest(profile)
    files = manifest["model_files"]
    files["dense"]["runtime"], files["pooling"]["runtime"] = files["pooling"]["runtime"], files["dense"]["runtime"]
    _write(profile, manifest)
    _refused(profile, "are the model files swapped")


@pytest.mark.parametrize("damage", ["truncate", "text", "empty"])
def test_damaged_model_files_are_refused(profile, damage):
    path = profile / "dense_runtime.cbm"
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "text": b"not a model\n", "empty": b""}[damage])
    _refused(profile, "dense_runtime.cbm")


def test_a_model_file_that_crashes_catboost_is_refused(profile):
    name, position, bit = CRASHING_BIT
    data = bytearray((profile / name).read_bytes())
    data[position] ^= bit
    (profile / name).write_bytes(bytes(data))
    _refused(profile, name, "CatBoost crashed loading it")
