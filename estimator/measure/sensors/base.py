"""What every power sensor shares: readings, the begin()/end() window interface, tokens, the poller.

Every sensor measures *windows*: ``token = sensor.begin()``, run the workload,
``reading = sensor.end(token)``.  Counter sensors (NVML energy, RAPL) difference a
hardware energy counter; polling sensors (NVML power, INA3221) average samples taken
by a background thread; the log sensor averages an external meter's log.
"""

from __future__ import annotations

import itertools
import math
import statistics
import threading
import time
from abc import ABC, abstractmethod
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

from estimator.errors import SensorError

__all__ = [
    "MAX_QUANTISATION_ERROR",
    "CounterSensor",
    "CounterToken",
    "NoSensor",
    "Poller",
    "PowerReading",
    "PowerSensor",
    "SensorDetection",
    "TimeToken",
    "counter_reading",
    "mean_reading",
    "poll_window",
    "start_poller",
    "stop_poller",
]

_S = TypeVar("_S", bound="PowerSensor")

# Largest error a counter's update granularity may add to a window, used for "min_window_s".
MAX_QUANTISATION_ERROR = 0.02
# Cap on samples a polling thread keeps (about 83 minutes at 5 ms); the oldest half is dropped beyond it.
_MAX_POLL_SAMPLES = 1_000_000


@dataclass(frozen=True)
class PowerReading:
    """Power over one measurement window."""

    power_w: float
    energy_mj: float
    duration_s: float
    samples: int
    method: str


@dataclass(frozen=True)
class SensorDetection:
    """Whether one sensor is usable here, and why (not)."""

    name: str
    available: bool
    detail: str


@dataclass(frozen=True)
class CounterToken:
    sensor_id: int
    t: float
    value: Any


@dataclass(frozen=True)
class TimeToken:
    sensor_id: int
    t: float


class PowerSensor(ABC):
    """A source of power readings over begin()/end() windows."""

    name: str = ""

    @abstractmethod
    def describe(self) -> dict[str, object]:
        """Return JSON-able facts about the sensor (device, path, rail, method, poll interval)."""

    def start(self) -> None:  # noqa: B027 - optional hook, a no-op for sensors with nothing to start
        """Prepare the sensor (e.g. start a polling thread); idempotent."""

    def stop(self) -> None:  # noqa: B027 - optional hook
        """Release what start() acquired; idempotent."""

    @abstractmethod
    def begin(self) -> object:
        """Mark the start of a window and return an opaque token for end()."""

    @abstractmethod
    def end(self, token: object) -> PowerReading | None:
        """Close the window opened by begin() and return its reading."""

    def __enter__(self: _S) -> _S:
        """Start the sensor."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the sensor."""
        self.stop()

    def check_token(self, token: object, kind: type) -> Any:
        """The token, if this sensor's own begin() returned it (else SensorError)."""
        if not isinstance(token, kind) or token.sensor_id != id(self):
            raise SensorError(f"{self.name} sensor: end() got a token that its own begin() did not return")
        return token


def counter_reading(energy_mj: float, duration_s: float, what: str) -> PowerReading:
    if duration_s <= 0:
        raise SensorError(f"{what}: window has no duration ({duration_s} s)")
    return PowerReading(
        power_w=energy_mj / 1000.0 / duration_s,
        energy_mj=energy_mj,
        duration_s=duration_s,
        samples=2,
        method="energy-counter",
    )


def mean_reading(power_w: float, duration_s: float, samples: int, method: str) -> PowerReading:
    return PowerReading(
        power_w=power_w,
        energy_mj=power_w * duration_s * 1000.0,
        duration_s=duration_s,
        samples=samples,
        method=method,
    )


class Poller:
    """A daemon thread that samples a power function (watts) every interval_s."""

    def __init__(self, read: Callable[[], float], interval_s: float, label: str) -> None:
        self._read = read
        self._interval = interval_s
        self._label = label
        self._times = array("d")
        self._values = array("d")
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name=f"{self._label}-power-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None

    def _run(self) -> None:
        next_t = time.perf_counter()
        while not self._stop.is_set():
            try:
                t_a = time.perf_counter()
                value = float(self._read())
                t_b = time.perf_counter()
            except BaseException as exc:  # reported by the next window()
                self._error = exc
                return
            with self._lock:
                if len(self._times) >= _MAX_POLL_SAMPLES:
                    del self._times[: _MAX_POLL_SAMPLES // 2]
                    del self._values[: _MAX_POLL_SAMPLES // 2]
                self._times.append((t_a + t_b) / 2.0)
                self._values.append(value)
            next_t += self._interval
            now = time.perf_counter()
            if next_t < now:
                next_t = now
            self._stop.wait(next_t - now)

    def window(self, t0: float, t1: float) -> tuple[float, int]:
        """Return (sum of watts, count) of samples with t0 <= t <= t1."""
        if self._error is not None:
            raise SensorError(f"{self._label} sensor: polling failed: {self._error}") from self._error
        with self._lock:
            lo = bisect_left(self._times, t0)
            hi = bisect_right(self._times, t1)
            values = self._values[lo:hi]
        return math.fsum(values), len(values)


def start_poller(poller: Poller | None, read: Callable[[], float], interval_s: float, label: str) -> Poller:
    """The running poller, or a new one started when there is none (or it stopped)."""
    if poller is None or not poller.running:
        poller = Poller(read, interval_s, label)
        poller.start()
    return poller


def stop_poller(poller: Poller | None) -> None:
    """Stop a poller if there is one."""
    if poller is not None:
        poller.stop()


def poll_window(poller: Poller, t0: float, read_now: Callable[[], float]) -> PowerReading:
    t1 = time.perf_counter()
    total, count = poller.window(t0, t1)
    if count == 0:
        total, count = read_now(), 1
    return mean_reading(total / count, t1 - t0, count, "polling")


# --------------------------------------------------------------------------- none


class NoSensor(PowerSensor):
    """No power sensor: windows are timed but carry no power."""

    name = "none"

    def describe(self) -> dict[str, object]:
        """Say that no power is measured."""
        return {"sensor": "none", "method": None, "detail": "no power sensor; power is not measured"}

    def begin(self) -> object:
        """Return a token (unused)."""
        return TimeToken(id(self), time.perf_counter())

    def end(self, token: object) -> PowerReading | None:
        """Return None: there is nothing to read."""
        self.check_token(token, TimeToken)
        return None


# --------------------------------------------------------------------------- counter sensors


class CounterSensor(PowerSensor):
    """A sensor with a hardware energy counter: windows difference it; its update interval can be probed."""

    _update_interval_s: float | None = None

    @property
    def has_energy_counter(self) -> bool:
        return True

    @property
    def update_interval_s(self) -> float | None:
        """The median seconds between counter changes, once measure_update_interval has found it."""
        return self._update_interval_s

    @abstractmethod
    def read_counter(self) -> Any:
        """Read the raw counter value(s)."""

    def measure_update_interval(self, seconds: float = 1.0) -> float | None:
        """Watch the counter for `seconds`; remember and return the median seconds between its changes."""
        self.start()
        prev = self.read_counter()
        changes: list[float] = []
        deadline = time.perf_counter() + seconds
        while (now := time.perf_counter()) < deadline:
            value = self.read_counter()
            if value != prev:
                changes.append(now)
                prev = value
        intervals = [b - a for a, b in itertools.pairwise(changes)]
        if not intervals:
            return None
        self._update_interval_s = statistics.median(intervals)
        return self._update_interval_s

    def read_latency_s(self, reads: int = 30) -> float:
        """The median seconds one read_counter() call takes."""
        samples = []
        for _ in range(reads):
            before = time.perf_counter()
            self.read_counter()
            samples.append(time.perf_counter() - before)
        return statistics.median(samples)

    def describe_interval(self, facts: dict[str, object]) -> dict[str, object]:
        """Add the counter's update interval and the window it implies to a describe() dict."""
        if self._update_interval_s is not None:
            facts["counter_update_interval_s"] = self._update_interval_s
            facts["min_window_s"] = self._update_interval_s / MAX_QUANTISATION_ERROR
        return facts
