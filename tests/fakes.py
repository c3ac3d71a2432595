"""Stand-ins for hardware the tests cannot have, mimicking the real interfaces."""

from __future__ import annotations

import time


class ClockNvml:
    """A pynvml stand-in whose energy counter (mJ) advances by watts x interval every interval."""

    class NVMLError(Exception):
        pass

    def __init__(self, watts: float = 200.0, interval_s: float = 0.01) -> None:
        self.watts, self.interval_s, self.t0 = watts, interval_s, time.perf_counter()

    def nvmlInit(self) -> None:
        pass

    def nvmlShutdown(self) -> None:
        pass

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetName(self, handle: int) -> str:
        return "Fake GPU"

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: int) -> int:
        ticks = int((time.perf_counter() - self.t0) / self.interval_s)
        return int(ticks * self.watts * self.interval_s * 1000)  # mJ

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        return int(self.watts * 1000)
