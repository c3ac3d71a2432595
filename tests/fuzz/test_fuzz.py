"""A short seeded fuzz run (the long one: `python -m tests.fuzz`): no mutant may break a promise of the README."""

from __future__ import annotations

from tests.fuzz.runner import FAILURES, Campaign
from tests.fuzz.seeds import SMALL_SEEDS


def test_a_short_seeded_fuzz_run_keeps_every_promise(tmp_path):
    campaign = Campaign(seed=12, model_mutants=300, profile_mutants=60, scratch=tmp_path, seeds=SMALL_SEEDS,
                        timeout_s=60, memory_mb=1500)
    campaign.run()
    outcomes = {outcome for _, outcome in campaign.counts}
    assert sum(campaign.counts.values()) == 360
    assert {"ok", "error"} <= outcomes  # both clean reports and one-line errors were exercised
    assert not campaign.failures, "\n".join(str(failure) for failure in campaign.failures)
    assert not outcomes & set(FAILURES)
