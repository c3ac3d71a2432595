"""How a calibration spends its budget after the first round: the base profile's error per family, from each
generated graph as it was generated (once), all new graphs scored together."""

from __future__ import annotations

import numpy as np
import pytest

import estimator.measure.calibration as calibration
from estimator.predict.estimation import estimate
from estimator.predict.profiles import load_profile
from graph.generate import generate

FAMILIES = ("basic_residual", "convnext")


@pytest.fixture(scope="module")
def base():
    return load_profile("amd-epyc-f23m49-avx2-t1")


def _entry(family: str, seed: int, batch: int, end_to_end_ms: float) -> dict[str, object]:
    return {"model": f"{family}_{seed}", "family": family, "source": "generated", "batch_size": batch,
            "end_to_end_ms": end_to_end_ms}


def test_the_base_scores_each_graph_from_its_generated_bytes_without_generating_it_again(base, monkeypatch):
    sources = {}
    for family in FAMILIES:
        for seed in (100_000, 100_001):
            sources[f"{family}_{seed}", 1] = generate(family, seed).model.SerializeToString()
    uncertainty = calibration._Uncertainty(base, FAMILIES, sources)
    monkeypatch.setattr(calibration, "generate", lambda *args: pytest.fail("a graph was generated again"))
    predicted = {key: estimate(data, base, batch_size=1).totals.runtime_ms for key, data in sources.items()}
    # basic_residual measured as the base predicts it; convnext 2x and 0.5x off: convnext is the one to sample
    entries = [_entry("basic_residual", seed, 1, predicted[f"basic_residual_{seed}", 1]) for seed in (100_000, 100_001)]
    entries += [_entry("convnext", 100_000, 1, 2 * predicted["convnext_100000", 1]),
                _entry("convnext", 100_001, 1, 0.5 * predicted["convnext_100001", 1])]
    weights = uncertainty.weights(entries)
    assert weights.sum() == pytest.approx(1.0)
    assert weights[1] > 0.8
    for key, (family, _error) in uncertainty.errors.items():
        assert family == key[0].rsplit("_", 1)[0]
    assert uncertainty.errors["convnext_100000", 1][1] == pytest.approx(np.log(2), rel=1e-6)


def test_a_graph_resumed_from_an_earlier_run_is_generated_again(base):
    uncertainty = calibration._Uncertainty(base, FAMILIES, {})
    data = generate("convnext", 100_002).model.SerializeToString()
    measured = estimate(data, base, batch_size=2).totals.runtime_ms
    uncertainty.weights([_entry("convnext", 100_002, 2, measured)])
    assert uncertainty.errors["convnext_100002", 2][1] == pytest.approx(0.0, abs=1e-9)
    assert uncertainty.sources["convnext_100002", 2] == data
