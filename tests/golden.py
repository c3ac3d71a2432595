"""Golden reports: the JSON and Markdown reports of a few committed models on every shipped profile.

They guard refactors of the estimation pipeline and its renderers: the test (tests/test_golden_reports.py)
re-renders them and compares byte for byte. Regenerate ONLY when a change of the figures is intended, and
say why in the commit:

    python -m tests.golden            # rewrites tests/data/golden/
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Iterator
from pathlib import Path

from estimator.files import write_atomic
from estimator.predict.estimation import estimate
from estimator.predict.profiles import PROFILE_DIR, list_profiles
from tests.paths import FAMILIES, ROOT, ZOO

GOLDEN = ROOT / "tests" / "data" / "golden"
# A CNN in NCHWc (fusions, reorders), a transformer encoder (symbolic sequence, attention fusions) and an
# int8 QDQ graph (quantized regions): small ones, so the whole comparison stays fast.
MODELS = (ZOO / "resnet18.onnx", FAMILIES / "transformer_encoder.onnx", FAMILIES / "resnet18_int8_qdq.onnx")
# The default profile and thread count depend on the machine: the golden run always names both.
THREADS = 1
GOLDEN_FORMATS = ("json", "markdown")
_SUFFIX = {"json": "json", "markdown": "md"}


def shipped_profiles() -> list[str]:
    """Ids of the profiles shipped in the package (never a user's local ones)."""
    return sorted(info.id for info in list_profiles() if info.origin == "shipped")


def golden_path(model: Path, profile_id: str, fmt: str) -> Path:
    return GOLDEN / profile_id / f"{model.stem}.{_SUFFIX[fmt]}"


def rendered(model: Path, profile_id: str) -> dict[str, str]:
    """The report of `model` on a profile, in each golden format.

    The report names the model by its path relative to the repository (an absolute path differs between
    checkouts) and drops device_note: that line compares the profile's machine with THIS machine, so it
    changes with the machine the test runs on, not with the code under guard.
    """
    # By folder, so that a profile made on this machine under a shipped id cannot stand in for the shipped one.
    report = estimate(model, profile=PROFILE_DIR / profile_id, threads=THREADS)
    report = dataclasses.replace(report, model=model.relative_to(ROOT).as_posix(), device_note=None)
    return {"json": report.to_json(), "markdown": report.to_markdown()}


def cases() -> Iterator[tuple[Path, str]]:
    for profile_id in shipped_profiles():
        for model in MODELS:
            yield model, profile_id


def write_goldens() -> list[Path]:
    written = []
    for model, profile_id in cases():
        for fmt, text in rendered(model, profile_id).items():
            path = golden_path(model, profile_id, fmt)
            write_atomic(path, text)
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.golden", description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    for path in write_goldens():
        print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
