"""Which profile applies on this machine: every profile ranked by how near its fingerprint is, and the one line
that says which was taken, why and how far."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from estimator.predict.fingerprint import machine_fingerprint, ort_default_threads
from estimator.predict.profiles import DEFAULT_PROFILE, list_profiles
from estimator.predict.selection import (
    CALIBRATE_HINT,
    DISTANCE_WEIGHTS,
    choose_profile,
    device_note,
    fingerprint_distance,
    rank_profiles,
)
from estimator.predict.userdata import HOME_VARIABLE, user_profile_dir


def _profile(folder: Path, name: str, fingerprint: dict | None, created_at: str = "2026-06-01T00:00:00+00:00") -> Path:
    path = folder / name
    path.mkdir(parents=True)
    (path / "profile.json").write_text(json.dumps({"fingerprint": fingerprint, "created_at": created_at,
                                                   "description": name, "model_files": {}, "unit": "kernels"}))
    return path


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv(HOME_VARIABLE, str(tmp_path / "home"))
    return user_profile_dir()


def _other_design(here: dict, family: str, model: str) -> dict:
    return {**here, "cpu_family_model_stepping": f"{family}/{model}/0"}


def test_an_exact_match_wins_and_among_equals_the_newest(home, tmp_path):
    here = machine_fingerprint(2)
    _profile(home, "old", here, "2026-01-01T00:00:00+00:00")
    newest = _profile(home, "new", here, "2026-06-01T00:00:00+00:00")
    _profile(home, "one-thread", {**here, "intra_op_threads": 1}, "2026-11-01T00:00:00+00:00")
    choice = choose_profile(2)
    assert choice.path == newest and choice.exact and choice.of_this_machine and choice.distance == 0
    assert choice.note() == "profile new (local): measured on this machine at 2 thread(s)"


def test_nearness_orders_cpu_design_then_vector_units_then_threads(home, tmp_path):
    here = machine_fingerprint(1)
    family, model, _ = here["cpu_family_model_stepping"].split("/")
    shipped = tmp_path / "shipped"
    _profile(shipped, "other-family", _other_design(here, str(int(family) + 1), model))
    _profile(shipped, "other-model", _other_design(here, family, str(int(model) + 1)))
    _profile(shipped, "no-avx512", {**here, "isa": [f for f in here["isa"] if not f.startswith("avx512")] + ["x"]})
    _profile(shipped, "two-threads", {**here, "intra_op_threads": 2})
    _profile(shipped, "gpu", {"gpu_name": "NVIDIA H200", "provider": "CUDA"})
    _profile(shipped, "unrecorded", None)
    ranked = [choice.profile_id for choice in rank_profiles(1, shipped=shipped)]
    assert ranked.index("other-model") < ranked.index("other-family")
    assert ranked[-2:] == ["unrecorded", "gpu"]
    distances = {choice.profile_id: choice for choice in rank_profiles(1, shipped=shipped)}
    assert distances["other-family"].distance == DISTANCE_WEIGHTS["cpu_family"]
    assert distances["other-model"].distance == DISTANCE_WEIGHTS["cpu_model_number"]
    assert distances["two-threads"].distance == DISTANCE_WEIGHTS["intra_op_threads"]
    assert not distances["two-threads"].of_this_machine  # another thread count: a first call calibrates
    note = distances["other-family"].note()
    assert f"CPU family/model {int(family) + 1}/{model} (here {family}/{model})" in note and CALIBRATE_HINT in note


def test_isa_differences_are_named_and_weigh_by_kind():
    here = {**machine_fingerprint(1), "isa": ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni"]}
    distance, keys, texts = fingerprint_distance({**here, "isa": ["sse4_2", "avx", "avx2", "fma", "f16c"]}, here)
    assert keys == ("isa",)
    assert distance == 2 * DISTANCE_WEIGHTS["isa_major"] + DISTANCE_WEIGHTS["isa_minor"]
    assert texts == ("ISA lacks avx512_vnni, avx512f; has f16c this CPU lacks",)


def test_a_patch_release_or_a_renamed_cpu_is_still_this_machine(home, tmp_path):
    here = machine_fingerprint(ort_default_threads())
    version = here["onnxruntime"].split(".")
    patched = ".".join([*version[:2], str(int(version[2]) + 1) if len(version) > 2 else "1"])
    _profile(home, "near", {**here, "onnxruntime": patched, "cpu_model": "AMD EPYC 9R14"})
    choice = choose_profile(shipped=tmp_path / "none")  # a shipped profile may match this machine exactly
    assert choice.profile_id == "near" and choice.of_this_machine and not choice.exact
    assert CALIBRATE_HINT not in choice.note() and f"onnxruntime {patched}" in choice.note()


def test_without_local_profiles_a_shipped_kernel_profile_is_chosen(home):
    choice = choose_profile(1)
    assert choice.origin == "shipped" and choice.profile_id != "gpu-h200-nvml"
    assert choice.profile_id in {info.id for info in list_profiles()}


def test_device_note_of_a_named_profile():
    here = machine_fingerprint(1)
    assert device_note(here) is None
    note = device_note({**here, "cpu_model": "Intel(R) Xeon(R) Platinum 8480+", "cpu_vendor": "GenuineIntel",
                        "isa": ["avx512f", "amx_tile"]})
    assert note.startswith("profile measured on another machine (") and "Intel(R) Xeon(R) Platinum 8480+" in note
    assert CALIBRATE_HINT in note and "\n" not in note
    assert "onnxruntime 1.0.0 (here" in device_note({**here, "onnxruntime": "1.0.0"})
    assert "other runtime settings" in device_note({**here, "onnxruntime": "1.0.0"})
    assert "2 thread(s) (here 1)" in device_note({**here, "intra_op_threads": 2}, threads=1)
    assert "does not record" in device_note(None)
    assert "GPU" in device_note({"gpu_name": "NVIDIA H200"})


def test_list_profiles_shows_local_ones_first_with_their_fingerprint(home):
    here = machine_fingerprint(2)
    _profile(home, "mine", here, "2026-06-01")
    infos = list_profiles()
    assert infos[0].id == "mine" and infos[0].origin == "local" and infos[0].fingerprint == here
    assert infos[0].unit == "kernels" and infos[0].created_at == "2026-06-01"
    assert {info.origin for info in infos[1:]} == {"shipped"}
    assert DEFAULT_PROFILE in {info.id for info in infos}
