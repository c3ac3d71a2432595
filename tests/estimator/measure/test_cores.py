"""The thread pool's cores: read before and after each graph at 2 threads, and a graph timed without them timed again."""

from __future__ import annotations

import json
import math
from pathlib import Path

import estimator.measure.kernel_collector as collector_module
from estimator.measure.backends.ort import OrtBackend, OrtSettings
from estimator.measure.cores import PoolCheck, PoolPolicy
from estimator.measure.incontext import RunPolicy
from estimator.measure.kernel_collector import DriftGuard, GraphJob
from estimator.measure.kernel_plan import collect_in_context, file_jobs
from graph.build import RANDOM_WEIGHTS, runnable_model
from tests.paths import ZOO

QUICK = RunPolicy(warmup_runs=1, min_runs=3, min_time_s=0.02, max_runs=20)
BRIEF = dict(burst_s=0.005, wait_s=0.0, poll_s=0.0)  # one quick check, no waiting


def _guard(**policy) -> DriftGuard:
    reference = GraphJob("reference", "reference", "zoo", ZOO / "lenet.onnx", 1)
    return DriftGuard(reference, every_s=3600.0, pool=PoolPolicy(**{**BRIEF, **policy}))


def _collect(tmp_path: Path, monkeypatch, threads: int, **policy) -> tuple[dict, list[str]]:
    """Collect lenet at batch 1; one name per time_graph call (the reference is timed first and last)."""
    timed = []
    real = collector_module.time_graph

    def recording(backend, model, policy=None):
        timed.append(model.name)
        return real(backend, model, policy)

    monkeypatch.setattr(collector_module, "time_graph", recording)
    folder = tmp_path / "dev"
    collect_in_context(folder, file_jobs([ZOO / "lenet.onnx"], "zoo", (1,)),
                       OrtBackend(OrtSettings(intra_op_threads=threads)), QUICK, _guard(**policy), command="test")
    entry = next(e for e in map(json.loads, (folder / "journal.jsonl").read_text().splitlines()) if e["kind"] == "graph")
    return {"entry": entry, "device": json.loads((folder / "device.json").read_text())}, timed


def test_the_check_times_both_sessions_and_holds_the_speedup_to_the_policy():
    check = PoolCheck(OrtBackend(OrtSettings(intra_op_threads=2)),
                      runnable_model(ZOO / "lenet.onnx", {"input": (1, 1, 32, 32)}), PoolPolicy(**BRIEF))
    speedup = check.speedup()
    assert math.isfinite(speedup) and speedup > 0
    assert check.has_cores(1.25) and not check.has_cores(1.2)
    assert check.wait_for_cores() > 0  # wait_s=0: one reading, no waiting


def test_a_graph_timed_while_the_pool_lacks_its_cores_is_timed_again_once(tmp_path, monkeypatch):
    collected, timed = _collect(tmp_path, monkeypatch, threads=2, min_speedup=1e9)  # never has its cores
    entry = collected["entry"]
    assert len(timed) == 4  # the graph once more, and then kept with what it read
    assert len(entry["pool_speedup"]) == 2 and entry["pool_had_cores"] is False
    assert collected["device"]["drift"]["graphs_kept_without_pool_cores"] == 1
    assert collected["device"]["method"]["pool_check"]["min_speedup"] == 1e9


def test_a_graph_timed_with_its_cores_is_timed_once(tmp_path, monkeypatch):
    collected, timed = _collect(tmp_path, monkeypatch, threads=2, min_speedup=0.0)
    assert len(timed) == 3 and collected["entry"]["pool_had_cores"] is True
    assert collected["device"]["drift"]["graphs_kept_without_pool_cores"] == 0


def test_one_thread_has_no_pool_to_check(tmp_path, monkeypatch):
    collected, timed = _collect(tmp_path, monkeypatch, threads=1, min_speedup=1e9)
    assert len(timed) == 3 and "pool_speedup" not in collected["entry"]
    assert collected["device"]["method"]["pool_check"] is None
    assert collected["device"]["runs"][-1]["random_weights"] == RANDOM_WEIGHTS  # how the graphs were filled
