"""CPU package energy from RAPL through the Linux powercap sysfs (Intel and AMD)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from estimator.errors import SensorError
from estimator.measure.sensors.base import CounterSensor, CounterToken, PowerReading, counter_reading
from estimator.measure.sensors.sysfs import natural_key, read_int, read_sysfs

__all__ = ["RaplSensor"]


_RAPL_ZONE = re.compile(r"^[\w-]*rapl[\w-]*:\d+$")


@dataclass(frozen=True)
class _RaplZone:
    path: Path
    name: str
    max_range_uj: int | None


class RaplSensor(CounterSensor):
    """CPU package energy from RAPL through the Linux powercap sysfs (Intel and AMD)."""

    name = "rapl"

    def __init__(self, sysfs_root: str | Path = "/") -> None:
        """Find the top-level package zones and check their counters are readable."""
        self.base = Path(sysfs_root) / "sys" / "class" / "powercap"
        self.zones = self._find_zones()
        for zone in self.zones:
            read_int(zone.path / "energy_uj")

    def _find_zones(self) -> list[_RaplZone]:
        try:
            dirs = sorted((p for p in self.base.iterdir() if _RAPL_ZONE.match(p.name)), key=natural_key)
        except OSError:
            dirs = []
        dirs = [d for d in dirs if (d / "energy_uj").exists()]
        if not dirs:
            raise SensorError(
                f"no RAPL powercap zones (*rapl:N/energy_uj) under {self.base}; on Linux load the "
                "intel_rapl_msr module (Intel, and AMD Zen with kernel >= 5.8) or choose another sensor"
            )
        by_name: dict[str, Path] = {}
        for d in dirs:
            name = read_sysfs(d / "name") if (d / "name").exists() else d.name
            kept = by_name.get(name)
            # intel-rapl-mmio:N duplicates the MSR zone of the same name; never count both.
            if kept is None or ("mmio" in kept.name and "mmio" not in d.name):
                by_name[name] = d
        names = [n for n in by_name if n.startswith("package")]
        if not names:
            names = [n for n in by_name if n != "psys"] or list(by_name)
        zones = []
        for n in names:
            d = by_name[n]
            max_path = d / "max_energy_range_uj"
            max_range = read_int(max_path) if max_path.exists() else None
            zones.append(_RaplZone(d, n, max_range))
        return sorted(zones, key=lambda z: natural_key(z.path))

    def describe(self) -> dict[str, object]:
        """Return the summed zones (path, name, wrap range) and the method."""
        facts: dict[str, object] = {
            "sensor": "rapl",
            "method": "energy-counter",
            "zones": [{"path": str(z.path), "name": z.name, "max_energy_range_uj": z.max_range_uj} for z in self.zones],
        }
        return self.describe_interval(facts)

    def read_counter(self) -> tuple[int, ...]:
        return tuple(read_int(z.path / "energy_uj") for z in self.zones)

    def begin(self) -> object:
        """Read every zone's energy counter."""
        value = self.read_counter()
        return CounterToken(id(self), time.perf_counter(), value)

    def end(self, token: object) -> PowerReading | None:
        """Return the summed, wrap-corrected energy delta over the window."""
        tok = self.check_token(token, CounterToken)
        value = self.read_counter()
        t1 = time.perf_counter()
        total_uj = 0
        for zone, start, stop in zip(self.zones, tok.value, value, strict=True):
            if stop >= start:
                total_uj += stop - start
            elif zone.max_range_uj is not None:
                total_uj += zone.max_range_uj - start + stop
            else:
                raise SensorError(
                    f"{zone.path / 'energy_uj'} wrapped ({start} -> {stop} uJ) but "
                    f"{zone.path / 'max_energy_range_uj'} is missing"
                )
        return counter_reading(total_uj / 1000.0, t1 - tok.t, "rapl")
