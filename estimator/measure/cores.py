"""Whether an intra-op thread pool gets a core for each of its threads right now.

A VM's thread pool can lose a core's worth of speed for seconds to minutes at a time, as if the host ran its
vCPUs as one physical core's two hyperthreads (the cause is the host's and not visible from inside). On the
2-vCPU Zen 4 VM (2026-12-05), a default 2-thread session of the drift guard's reference graph read 0.585 ms or
1.09 ms by turns (1 thread: 0.90 ms throughout), and one of mobilenet_v2 3.7 ms for half a second, then 6.4 ms for 45 s;
/proc/stat showed no steal time in either state, so only a timing tells them apart. A graph timed in the second
state teaches a calibration a machine that runs its thread pool at a fraction of its speed: a 600 s calibration at
2 threads without this check put 65% of the modern exports within ±10% of their median truth round, with it 79%
(94% of their fastest round; README, "First use on a new machine").

`PoolCheck` times a small graph at 1 thread and at the collector's thread count, a fraction of a second each, and
says how much faster the pool ran it. The collector times a graph when that speedup is at least `min_speedup`
before and after it (estimator.measure.kernel_collector).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from estimator.measure.backends.ort import OrtBackend
from estimator.measure.incontext import QUANTILE
from estimator.measure.timing import LoopPolicy, time_calls
from graph.build import RunnableModel

__all__ = ["PoolCheck", "PoolPolicy"]


@dataclass(frozen=True)
class PoolPolicy:
    """When the thread pool counts as having its cores, and how long to wait for them."""

    # Speedup of the reference graph at the collector's thread count over 1 thread: 1.55x on the 2-vCPU Zen 4 VM
    # with both cores, 0.82x without; anything below 1.25x is no pool worth the name.
    min_speedup: float = 1.25
    burst_s: float = 0.06  # of runs per session and check (the reference graph: 60-100 runs)
    wait_s: float = 30.0  # at most, before a graph, for the cores to come back (then it is timed as it is)
    poll_s: float = 1.0  # between checks while waiting


class PoolCheck:
    """Times one small graph in a 1-thread session and in a session of the backend's thread count."""

    def __init__(self, backend: OrtBackend, model: RunnableModel, policy: PoolPolicy | None = None) -> None:
        self.policy = policy or PoolPolicy()
        self.model = model
        single = OrtBackend(replace(backend.settings, intra_op_threads=1))
        self._single = self._runner(single)
        self._pool = self._runner(backend)

    def speedup(self) -> float:
        """1-thread time over pool time (each a burst's QUANTILE, the 20th percentile); the 1-thread session goes
        first, so that the pool's spinning threads do not slow it."""
        return self._burst(self._single) / self._burst(self._pool)

    def wait_for_cores(self, deadline: float | None = None) -> float:
        """The speedup once it reaches min_speedup, or the last one read after wait_s (or at `deadline`)."""
        give_up = time.monotonic() + self.policy.wait_s
        if deadline is not None:
            give_up = min(give_up, deadline)
        speedup = self.speedup()
        while speedup < self.policy.min_speedup and time.monotonic() + self.policy.poll_s < give_up:
            time.sleep(self.policy.poll_s)
            speedup = self.speedup()
        return speedup

    def has_cores(self, speedup: float) -> bool:
        return speedup >= self.policy.min_speedup

    def _runner(self, backend: OrtBackend) -> Callable[[], object]:
        session = backend.session(self.model)
        outputs = [output.name for output in session.get_outputs()]

        def run() -> object:
            return session.run(outputs, self.model.feeds)

        for _ in range(3):
            run()
        return run

    def _burst(self, run: Callable[[], object]) -> float:
        """The QUANTILE of at least 5 runs and burst_s of them (the sessions were warmed up once, when made)."""
        loop = LoopPolicy(warmup_s=0.0, warmup_iterations=0, min_time_s=self.policy.burst_s, min_iterations=5)
        times_s, _ = time_calls(run, loop)
        return float(np.percentile(times_s, QUANTILE))
