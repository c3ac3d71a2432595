"""How busy the machine was while we measured: the CPU time others took (other processes and the hypervisor).

Timings taken beside other work come out slow (on a 2-vCPU VM a neighbour made single-thread layers
up to 1.9x slower), so a short calibration checks this before it stores a profile. From
/proc/stat (all CPUs: busy and stolen time) minus this process's own CPU time (getrusage).
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LoadMeter", "LoadReading"]

_STAT = Path("/proc/stat")


@dataclass(frozen=True)
class LoadReading:
    """What the machine did over a window besides our own work."""

    wall_s: float
    other_cores: float  # CPU time of everything but this process (steal included) / wall time
    steal_cores: float  # of which the hypervisor took from this VM

    def to_dict(self) -> dict[str, float]:
        return {"wall_s": round(self.wall_s, 1), "other_cores": round(self.other_cores, 3),
                "steal_cores": round(self.steal_cores, 3)}


class LoadMeter:
    """Start it, do the work, read it: the other processes' share of the CPUs meanwhile (None where
    /proc/stat does not exist, e.g. off Linux)."""

    def __init__(self) -> None:
        self._start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float, float] | None:
        if not _STAT.exists():
            return None
        fields = [int(value) for value in _STAT.read_text().splitlines()[0].split()[1:]]
        ticks = os.sysconf("SC_CLK_TCK")
        user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
        own = sum(getattr(resource.getrusage(who), field) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
                  for field in ("ru_utime", "ru_stime"))
        return time.monotonic(), (user + nice + system + irq + softirq + steal) / ticks, steal / ticks, own

    def read(self) -> LoadReading | None:
        end = self._sample()
        if self._start is None or end is None:
            return None
        wall = max(end[0] - self._start[0], 1e-9)
        busy, steal, own = (end[i] - self._start[i] for i in (1, 2, 3))
        return LoadReading(wall, max(0.0, busy - own) / wall, steal / wall)
