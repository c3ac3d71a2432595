"""Which profile fits this machine: every shipped and local profile ranked by how near its fingerprint is.

A profile is true only for the machine, thread count and runtime settings it was measured with.
Without `--profile`, `estimate` takes the nearest one (an exact match first: a profile calibrated
on this machine), and the report says which it took, why, and how far it is from this machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from estimator.predict.fingerprint import machine_fingerprint, ort_default_threads
from estimator.predict.profiles import DEFAULT_PROFILE, PROFILE_DIR, list_profiles
from estimator.predict.userdata import user_profile_dir

__all__ = [
    "CALIBRATE_HINT",
    "DISTANCE_WEIGHTS",
    "ProfileChoice",
    "choose_profile",
    "device_note",
    "fingerprint_distance",
    "rank_profiles",
]

CALIBRATE_HINT = "run `estimate --calibrate` (one minute) or `estimate-calibrate` to measure a profile of this machine"

# How much each difference moves a profile away from this machine. What decides a kernel's speed
# comes first: the CPU design (vendor, family, model) and its vector units, then the thread count
# (2 threads run a small-kernel net 1.3-2x faster than 1), then the runtime and its settings.
DISTANCE_WEIGHTS: dict[str, float] = {
    "provider": 50.0,          # a GPU profile says nothing of a CPU
    "architecture": 40.0,
    "cpu_vendor": 20.0,
    "cpu_family": 8.0,
    "cpu_model_number": 3.0,   # same family, another model (e.g. Zen 4 Genoa vs Zen 4 desktop)
    "isa_major": 1.5,          # each differing wide-vector or matrix flag (AVX-512, VNNI, AMX)
    "isa_minor": 0.5,          # each other differing flag (SSE4.2, AVX, FMA, F16C)
    "intra_op_threads": 6.0,
    "optimization_level": 4.0,
    "onnxruntime_minor": 2.0,  # another major.minor release (other kernels, other fusions)
    "onnxruntime_patch": 0.5,
    "cpu_name": 1.0,           # the model name string (hypervisors often shorten it)
    "logical_cpus": 1.0,
    "stepping": 0.5,
    "unrecorded": 60.0,        # a profile that does not say where it was measured
}
MAJOR_ISA = frozenset({"avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile",
                       "amx_bf16", "amx_int8", "sve"})
# Differences that make a profile another machine's, not this one's (a first call calibrates then).
THIS_MACHINE_KEYS = ("provider", "architecture", "cpu_vendor", "cpu_family", "cpu_model_number", "isa",
                     "intra_op_threads", "optimization_level", "onnxruntime_minor")


@dataclass(frozen=True)
class ProfileChoice:
    """The profile `estimate` takes on this machine, how far it is and what differs."""

    profile_id: str
    path: Path
    origin: str  # "local" (calibrated here) or "shipped"
    distance: float
    differences: tuple[str, ...]  # readable, e.g. "CPU family/model 23/49 (here 25/17)"
    difference_keys: tuple[str, ...]
    threads: int  # the thread count it was chosen for

    @property
    def exact(self) -> bool:
        return not self.differences

    @property
    def of_this_machine(self) -> bool:
        """Measured on this CPU design at these runtime settings (minor differences such as the CPU's name or an
        ONNX Runtime patch release aside): no calibration is needed."""
        return not set(self.difference_keys) & set(THIS_MACHINE_KEYS)

    def note(self) -> str:
        """One line for the report: which profile, why, how far."""
        if self.exact:
            return f"profile {self.profile_id} ({self.origin}): measured on this machine at {self.threads} thread(s)"
        differs = "; ".join(self.differences)
        line = f"profile {self.profile_id} ({self.origin}) is the nearest to this machine (distance {self.distance:g}: {differs})"
        return line if self.of_this_machine else f"{line}; {CALIBRATE_HINT}"


def choose_profile(threads: int | None = None, local: Path | None = None, shipped: Path = PROFILE_DIR) -> ProfileChoice:
    """The nearest profile to this machine at `threads` (default: ONNX Runtime's default thread count here)."""
    ranked = rank_profiles(threads, local, shipped)
    if ranked:
        return ranked[0]
    threads = threads or ort_default_threads()
    return ProfileChoice(DEFAULT_PROFILE, shipped / DEFAULT_PROFILE, "shipped", math.inf, ("no profile is readable",),
                         ("unrecorded",), threads)


def rank_profiles(threads: int | None = None, local: Path | None = None, shipped: Path = PROFILE_DIR
                  ) -> list[ProfileChoice]:
    """Every readable profile, nearest first; at equal distance a local one, then the newest."""
    threads = threads or ort_default_threads()
    here = machine_fingerprint(threads)
    choices = []
    for info in list_profiles(shipped, local or user_profile_dir()):
        distance, keys, texts = fingerprint_distance(info.fingerprint, here)
        choices.append((distance, info.origin != "local", _negated(info.created_at),
                        ProfileChoice(info.id, info.path, info.origin, distance, texts, keys, threads)))
    return [choice for *_, choice in sorted(choices, key=lambda item: item[:3])]


def fingerprint_distance(recorded: dict | None, current: dict) -> tuple[float, tuple[str, ...], tuple[str, ...]]:
    """(distance, differing keys, readable differences) between a profile's fingerprint and this machine's."""
    if not recorded:
        return DISTANCE_WEIGHTS["unrecorded"], ("unrecorded",), ("the profile does not record its machine",)
    if recorded.get("gpu_name"):
        return (DISTANCE_WEIGHTS["provider"] + DISTANCE_WEIGHTS["unrecorded"], ("provider",),
                (f"a {recorded['gpu_name']} GPU profile",))
    found: list[tuple[str, float, str]] = []

    def differ(key: str, mine: object, theirs: object, text: str, weight: float | None = None) -> None:
        if mine != theirs:
            found.append((key, DISTANCE_WEIGHTS[key] if weight is None else weight, text))

    for key in ("provider", "architecture", "optimization_level"):
        differ(key, current.get(key), recorded.get(key), f"{key} {recorded.get(key)} (here {current.get(key)})")
    differ("cpu_vendor", current.get("cpu_vendor"), recorded.get("cpu_vendor"),
           f"CPU vendor {recorded.get('cpu_vendor') or '?'} (here {current.get('cpu_vendor') or '?'})")
    theirs_fms, mine_fms = _family_model_stepping(recorded), _family_model_stepping(current)
    fms_text = f"CPU family/model {'/'.join(theirs_fms[:2])} (here {'/'.join(mine_fms[:2])})"
    if theirs_fms[0] != mine_fms[0]:
        found.append(("cpu_family", DISTANCE_WEIGHTS["cpu_family"], fms_text))
    elif theirs_fms[1] != mine_fms[1]:
        found.append(("cpu_model_number", DISTANCE_WEIGHTS["cpu_model_number"], fms_text))
    elif theirs_fms[2] != mine_fms[2]:
        found.append(("stepping", DISTANCE_WEIGHTS["stepping"], f"stepping {theirs_fms[2]} (here {mine_fms[2]})"))
    theirs_isa, mine_isa = set(recorded.get("isa") or []), set(current.get("isa") or [])
    if theirs_isa != mine_isa:
        weight = sum(DISTANCE_WEIGHTS["isa_major" if flag in MAJOR_ISA else "isa_minor"] for flag in theirs_isa ^ mine_isa)
        parts = [f"lacks {', '.join(sorted(mine_isa - theirs_isa))}" if mine_isa - theirs_isa else "",
                 f"has {', '.join(sorted(theirs_isa - mine_isa))} this CPU lacks" if theirs_isa - mine_isa else ""]
        found.append(("isa", weight, "ISA " + "; ".join(part for part in parts if part)))
    differ("intra_op_threads", current.get("intra_op_threads"), recorded.get("intra_op_threads"),
           f"{recorded.get('intra_op_threads')} thread(s) (here {current.get('intra_op_threads')})")
    theirs_ort, mine_ort = str(recorded.get("onnxruntime", "?")).split("."), str(current.get("onnxruntime")).split(".")
    if theirs_ort[:2] != mine_ort[:2]:
        found.append(("onnxruntime_minor", DISTANCE_WEIGHTS["onnxruntime_minor"],
                      f"onnxruntime {recorded.get('onnxruntime')} (here {current.get('onnxruntime')})"))
    elif theirs_ort != mine_ort:
        found.append(("onnxruntime_patch", DISTANCE_WEIGHTS["onnxruntime_patch"],
                      f"onnxruntime {recorded.get('onnxruntime')} (here {current.get('onnxruntime')})"))
    differ("cpu_name", current.get("cpu_model"), recorded.get("cpu_model"),
           f"CPU {recorded.get('cpu_model')} (here {current.get('cpu_model')})")
    differ("logical_cpus", current.get("logical_cpus"), recorded.get("logical_cpus"),
           f"{recorded.get('logical_cpus')} logical CPUs (here {current.get('logical_cpus')})")
    distance = round(sum(weight for _, weight, _ in found), 2)
    return distance, tuple(key for key, _, _ in found), tuple(text for _, _, text in found)


def device_note(fingerprint: dict | None, threads: int | None = None) -> str | None:
    """One line when a profile the caller named was measured on another machine or with other settings; else None.
    `threads`: the thread count the estimate is for (default: the profile's own)."""
    recorded = dict(fingerprint or {})
    if recorded.get("gpu_name"):
        return (f"profile of a {recorded['gpu_name']} ({recorded.get('provider', 'GPU runtime')}): the estimates are for "
                "that GPU, not for this machine")
    if not recorded:
        return f"the profile does not record the machine it was measured on; {CALIBRATE_HINT}"
    recorded_threads = recorded.get("intra_op_threads")
    current = machine_fingerprint(threads or (recorded_threads if isinstance(recorded_threads, int) else 1),
                                  str(recorded.get("provider", "CPUExecutionProvider")),
                                  str(recorded.get("optimization_level", "all")))
    _, keys, differences = fingerprint_distance(recorded, current)
    if not differences:
        return None
    where = "another machine" if set(keys) & {"architecture", "cpu_vendor", "cpu_family", "cpu_model_number", "isa"} \
        else "other runtime settings"
    return f"profile measured on {where} ({'; '.join(differences)}); {CALIBRATE_HINT}"


def _family_model_stepping(fingerprint: dict) -> tuple[str, str, str]:
    family, model, stepping = (str(fingerprint.get("cpu_family_model_stepping") or "").split("/") + ["?"] * 3)[:3]
    return family or "?", model or "?", stepping or "?"


def _negated(created_at: str) -> tuple[int, ...]:
    """Sort key putting the newest creation time first."""
    return tuple(-ord(character) for character in created_at)
