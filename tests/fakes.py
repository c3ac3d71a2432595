"""Stand-ins for hardware the tests cannot have, mimicking the real interfaces."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

from estimator.measure.sweep import SweepLimits

# Sweep caps that keep sampled layers tiny (fast to run in tests).
SMALL = SweepLimits(max_macs=5_000_000, max_elements=200_000, max_channels=64, max_spatial=32)


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


class MeterLog:
    """An external meter stand-in: a thread appending `timestamp_s,power_w` lines every millisecond."""

    def __init__(self, path: Path, watts: float, swing: float = 0.0) -> None:
        self.path, self.watts, self.swing = path, watts, swing
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._write, daemon=True)

    def _write(self) -> None:
        with self.path.open("a") as stream:
            rng = random.Random(0)
            stamp = time.time()
            while not self.stop.is_set():
                # A meter samples on its own clock: a writer woken late logs every sample it missed.
                # Readings scatter within the swing, as a real meter's do (no two windows read the same).
                now = time.time()
                while stamp <= now:
                    stream.write(f"{stamp:.6f},{self.watts + rng.uniform(-self.swing, self.swing):.4f}\n")
                    stamp += 0.001
                stream.flush()
                time.sleep(0.001)

    def __enter__(self) -> Path:
        self.path.write_text("timestamp_s,power_w\n")
        self.thread.start()
        time.sleep(0.05)
        return self.path

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()
