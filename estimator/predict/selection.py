"""Which profile fits this machine: the newest local one whose fingerprint matches, else the shipped default.

A profile is true only for the machine, thread count and runtime settings it was measured with;
when the profile in use comes from elsewhere, reports say so in one line and name the command
that makes one for this machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from estimator.predict.fingerprint import machine_fingerprint, mismatches, ort_default_threads
from estimator.predict.profiles import read_manifest_leniently
from estimator.predict.userdata import user_profile_dir

__all__ = ["CALIBRATE_HINT", "LocalProfile", "default_profile", "device_note", "local_profiles"]

CALIBRATE_HINT = "run `estimate-calibrate` to measure a profile of this machine"


@dataclass(frozen=True)
class LocalProfile:
    path: Path
    created_at: str
    fingerprint: dict


def local_profiles(directory: Path | None = None) -> list[LocalProfile]:
    """Profiles in the user's profile folder, newest first (unreadable ones are skipped)."""
    folder = directory or user_profile_dir()
    found = []
    for manifest_path in folder.glob("*/profile.json") if folder.is_dir() else ():
        manifest = read_manifest_leniently(manifest_path.parent)  # untrusted: a FIFO or a symlink out is skipped
        fingerprint = manifest.get("fingerprint") if manifest is not None else None
        if manifest is not None:
            found.append(LocalProfile(manifest_path.parent, str(manifest.get("created_at", "")),
                                      dict(fingerprint) if isinstance(fingerprint, dict) else {}))
    return sorted(found, key=lambda profile: profile.created_at, reverse=True)


def default_profile(directory: Path | None = None) -> Path | None:
    """The newest local profile measured on this machine (at ONNX Runtime's default threads if there is
    one, else at any thread count); None when there is none (the shipped default applies)."""
    matching = []
    for profile in local_profiles(directory):
        threads = profile.fingerprint.get("intra_op_threads")
        threads = threads if isinstance(threads, int) and not isinstance(threads, bool) and 0 <= threads < 1 << 20 else 0
        current = machine_fingerprint(threads, str(profile.fingerprint.get("provider", "CPUExecutionProvider")),
                                      str(profile.fingerprint.get("optimization_level", "all")))
        if not mismatches(profile.fingerprint, current):
            matching.append((threads == ort_default_threads(), profile))
    preferred = [profile for default, profile in matching if default] or [profile for _, profile in matching]
    return preferred[0].path if preferred else None


def device_note(fingerprint: dict | None) -> str | None:
    """One line when a profile was measured on another machine (or with other runtime settings); else None."""
    recorded = dict(fingerprint or {})
    if recorded.get("gpu_name"):
        return (f"profile of a {recorded['gpu_name']} ({recorded.get('provider', 'GPU runtime')}): the estimates are for "
                "that GPU, not for this machine")
    current = machine_fingerprint(int(recorded.get("intra_op_threads") or 1),
                                  str(recorded.get("provider", "CPUExecutionProvider")),
                                  str(recorded.get("optimization_level", "all")))
    different = mismatches(recorded or None, current)
    if not different:
        return None
    if different == ["unknown"]:
        return f"the profile does not record the machine it was measured on; {CALIBRATE_HINT}"
    if "cpu_model" in different or "isa" in different:
        where = f"{recorded.get('cpu_model', '?')} ({', '.join(recorded.get('isa') or []) or 'no ISA recorded'})"
        return f"profile measured on another machine: {where}, not this {current['cpu_model']}; {CALIBRATE_HINT}"
    settings = ", ".join(f"{key} {recorded.get(key)!s} here {current.get(key)!s}" for key in different)
    return f"profile measured with other runtime settings ({settings}); {CALIBRATE_HINT}"
