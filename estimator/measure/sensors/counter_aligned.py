"""An energy-counter sensor (NVML) whose windows start and end on counter updates.

The backend keeps the workload running until the counter ticks at both ends of its measured
loop, which removes the counter's quantisation error from the window (see the backends'
timing loops, which drive arm() and crossed()).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from estimator.errors import SensorError
from estimator.measure.sensors.base import PowerReading, PowerSensor
from estimator.measure.sensors.nvml import NvmlSensor

__all__ = ["CounterAlignedSensor"]


class CounterAlignedSensor(PowerSensor):
    """An energy-counter sensor whose windows start and end on counter updates.

    The backend calls ``arm()`` when it is ready to start (or stop) its loop and keeps running
    the workload until ``crossed()`` reports that the counter changed; the window's energy is the
    difference of the two updated values over the time between the two updates. Without two
    updates (a timeout, or a caller that never arms), ``end()`` returns the wrapped sensor's own
    reading, and the window counts as unaligned.
    """

    def __init__(self, inner: PowerSensor, read_counter: Callable[[], float] | None = None,
                 poll_s: float = 0.0005, timeout_s: float = 0.5, max_bracket_s: float = 0.005) -> None:
        """Wrap `inner`; read_counter returns its energy counter in mJ (default: NVML's counter).

        max_bracket_s: an update is dated between the two reads around it; when those are further
        apart than this (the process was descheduled, or the loop ran long between polls), the update
        is not used and the window waits for the next one, whose date is then known closely.
        """
        read = read_counter
        if read is None and isinstance(inner, NvmlSensor) and inner.has_energy_counter:
            read = inner.read_counter
        if read is None:
            raise SensorError(f"{inner.name} sensor has no NVML-style energy counter (mJ) to align windows to")
        self.inner = inner
        self.name = inner.name
        self._read = read
        self.poll_s = poll_s
        self.timeout_s = timeout_s
        self.max_bracket_s = max_bracket_s
        self.window_open = False
        self.aligned_windows = 0
        self.unaligned_windows = 0
        self._ticks: list[tuple[float, float]] = []
        self._reference: float | None = None
        self._crossed = False
        self._last_read_t = 0.0

    def reset_counts(self) -> None:
        """Forget the aligned/unaligned window counts (e.g. after a self-check)."""
        self.aligned_windows = self.unaligned_windows = 0

    def describe(self) -> dict[str, object]:
        facts = dict(self.inner.describe())
        facts["window_alignment"] = "counter-update"
        facts["alignment_poll_s"] = self.poll_s
        facts["aligned_windows"] = self.aligned_windows
        facts["unaligned_windows"] = self.unaligned_windows
        return facts

    def start(self) -> None:
        self.inner.start()

    def stop(self) -> None:
        self.inner.stop()

    def begin(self) -> object:
        self._ticks = []
        self._reference = None
        self._crossed = False
        self.window_open = True
        return self.inner.begin()

    def end(self, token: object) -> PowerReading | None:
        self.window_open = False
        fallback = self.inner.end(token)
        ticks, self._ticks = self._ticks, []
        if len(ticks) >= 2 and ticks[-1][0] > ticks[0][0] and ticks[-1][1] >= ticks[0][1]:
            energy_mj = float(ticks[-1][1] - ticks[0][1])
            duration = ticks[-1][0] - ticks[0][0]
            self.aligned_windows += 1
            return PowerReading(power_w=energy_mj / 1000.0 / duration, energy_mj=energy_mj, duration_s=duration,
                                samples=2, method="energy-counter-aligned")
        self.unaligned_windows += 1
        return fallback

    # -- the clock the backend drives --------------------------------------------------------

    def arm(self) -> None:
        """Note the counter's value now; crossed() turns true at its next change."""
        self._crossed = False
        self._reference = self._read()
        self._last_read_t = time.perf_counter()

    def crossed(self) -> bool:
        """Whether the counter changed since arm() (polled at most every poll_s; stays true until re-armed)."""
        if self._crossed:
            return True
        now = time.perf_counter()
        if self._reference is None or now - self._last_read_t < self.poll_s:
            return False
        value = self._read()
        after = time.perf_counter()
        if value == self._reference:
            self._last_read_t = after
            return False
        if after - self._last_read_t > self.max_bracket_s:
            self._reference, self._last_read_t = value, after  # dated too loosely: wait for the next update
            return False
        # The update happened between the previous read and this one: take the midpoint.
        self._ticks.append(((self._last_read_t + after) / 2.0, float(value)))
        self._reference = None
        self._crossed = True
        return True

    def wait_idle_window(self, seconds: float) -> PowerReading | None:
        """Idle power over an aligned window of at least `seconds` (this thread sleeps)."""
        token = self.begin()
        for phase in ("start", "end"):
            if phase == "end":
                time.sleep(seconds)
            self.arm()
            deadline = time.perf_counter() + self.timeout_s
            while not self.crossed() and time.perf_counter() < deadline:
                time.sleep(self.poll_s)
        return self.end(token)
