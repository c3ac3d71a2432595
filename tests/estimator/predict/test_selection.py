"""Which profile applies on this machine, and the one-line note when a profile comes from elsewhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from estimator.predict.fingerprint import machine_fingerprint, mismatches, ort_default_threads
from estimator.predict.profiles import list_profiles
from estimator.predict.selection import CALIBRATE_HINT, default_profile, device_note
from estimator.predict.userdata import HOME_VARIABLE, user_profile_dir


def _local_profile(folder: Path, name: str, fingerprint: dict, created_at: str) -> Path:
    path = folder / name
    path.mkdir(parents=True)
    (path / "profile.json").write_text(json.dumps({"fingerprint": fingerprint, "created_at": created_at,
                                                   "description": name, "model_files": {}}))
    return path


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv(HOME_VARIABLE, str(tmp_path / "home"))
    return user_profile_dir()


def test_newest_matching_profile_at_the_default_thread_count_wins(home):
    here = machine_fingerprint(ort_default_threads())
    other_cpu = {**here, "cpu_model": "Some Other CPU"}
    _local_profile(home, "old", here, "2026-01-01T00:00:00+00:00")
    newest = _local_profile(home, "new", here, "2026-06-01T00:00:00+00:00")
    _local_profile(home, "elsewhere", other_cpu, "2026-12-01T00:00:00+00:00")
    _local_profile(home, "one-thread", {**here, "intra_op_threads": 1}, "2026-11-01T00:00:00+00:00")
    assert default_profile() == (newest if ort_default_threads() != 1 else home / "one-thread")


def test_no_matching_local_profile_means_the_shipped_default(home):
    _local_profile(home, "elsewhere", {**machine_fingerprint(1), "isa": ["avx512f"]}, "2026-12-01")
    assert default_profile() is None


def test_device_note_names_the_other_machine_and_the_fix():
    here = machine_fingerprint(1)
    assert device_note(here) is None
    note = device_note({**here, "cpu_model": "Intel(R) Xeon(R) Platinum 8480+", "isa": ["avx512f", "amx_tile"]})
    assert "Intel(R) Xeon(R) Platinum 8480+" in note and CALIBRATE_HINT in note and "\n" not in note
    assert "onnxruntime 1.0.0 here" in device_note({**here, "onnxruntime": "1.0.0"})
    assert "does not record" in device_note(None)
    assert mismatches(None, here) == ["unknown"]


def test_list_profiles_shows_local_ones_first_with_their_fingerprint(home):
    here = machine_fingerprint(2)
    _local_profile(home, "mine", here, "2026-06-01")
    infos = list_profiles()
    assert infos[0].id == "mine" and infos[0].origin == "local" and infos[0].fingerprint == here
    assert {info.origin for info in infos[1:]} == {"shipped"}
