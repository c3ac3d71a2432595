"""The reports of a few committed models on every shipped profile, byte for byte as committed (tests/golden.py)."""

from __future__ import annotations

import pytest

from tests.golden import GOLDEN_FORMATS, cases, golden_path, rendered, shipped_profiles

CASES = list(cases())


def test_every_shipped_profile_has_goldens():
    """A new shipped profile needs its goldens (python -m tests.golden), or it would go unguarded."""
    assert shipped_profiles(), "no shipped profiles found"
    missing = [str(golden_path(model, profile_id, fmt)) for model, profile_id in CASES for fmt in GOLDEN_FORMATS
               if not golden_path(model, profile_id, fmt).is_file()]
    assert not missing, f"missing goldens (write them with `python -m tests.golden`): {missing}"


@pytest.mark.parametrize(("model", "profile_id"), CASES, ids=[f"{p}-{m.stem}" for m, p in CASES])
def test_report_matches_golden(model, profile_id):
    texts = rendered(model, profile_id)
    for fmt in GOLDEN_FORMATS:
        path = golden_path(model, profile_id, fmt)
        if not path.is_file():
            pytest.fail(f"no golden {path}: write it with `python -m tests.golden`")
        expected = path.read_text(encoding="utf-8")
        assert texts[fmt] == expected, (
            f"{fmt} report of {model.name} on {profile_id} differs from {path}; if the change is intended, "
            "regenerate with `python -m tests.golden` and say why in the commit")
