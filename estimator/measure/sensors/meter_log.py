"""An external power meter's log of 'timestamp_s,power_w' lines, read incrementally at each window's end."""

from __future__ import annotations

import math
import re
import time
from bisect import bisect_left, bisect_right
from pathlib import Path

from estimator.errors import SensorError
from estimator.measure.sensors.base import PowerReading, PowerSensor, TimeToken, mean_reading

__all__ = ["LogFileSensor"]


_LOG_SPLIT = re.compile(r"[,;\s]+")


class LogFileSensor(PowerSensor):
    """An external power meter's log of 'timestamp_s,power_w' lines (UNIX epoch seconds)."""

    name = "log"

    def __init__(self, log_path: str | Path, catch_up_s: float = 1.0) -> None:
        """Check the log exists; samples are read incrementally at each end().

        catch_up_s: how long end() waits for the meter's log to reach the window's end (a meter
        writes with some delay, and a busy host delays the writer further).
        """
        self.path = Path(log_path)
        self.catch_up_s = catch_up_s
        if not self.path.is_file():
            raise SensorError(
                f"power log {self.path} does not exist; start the external meter writing "
                "'timestamp_s,power_w' lines to it first"
            )
        self._reset()

    def _reset(self) -> None:
        self._offset = 0
        self._lineno = 0
        self._content_seen = False
        self._ino: int | None = None
        self._times: list[float] = []
        self._watts: list[float] = []
        self._sorted = True

    def describe(self) -> dict[str, object]:
        """Return the log path, format and method."""
        return {"sensor": "log", "method": "log", "path": str(self.path), "format": "timestamp_s,power_w"}

    def _parse(self, line: str, lineno: int, partial: bool) -> tuple[float, float] | None:
        text = line.strip()
        if not text or text.startswith("#"):
            return None
        parts = [p for p in _LOG_SPLIT.split(text) if p]
        try:
            t, w = float(parts[0]), float(parts[1])
            if not (math.isfinite(t) and math.isfinite(w)):
                raise ValueError
        except (ValueError, IndexError):
            if partial:  # the meter is still writing this line
                return None
            if not self._content_seen:  # header line
                self._content_seen = True
                return None
            raise SensorError(
                f"{self.path}:{lineno}: malformed power-log line {text!r}; expected 'timestamp_s,power_w'"
            ) from None
        if not partial:
            self._content_seen = True
        return t, w

    def _add(self, t: float, w: float) -> None:
        if self._times and t < self._times[-1]:
            self._sorted = False
        self._times.append(t)
        self._watts.append(w)

    def _refresh(self) -> tuple[float, float] | None:
        try:
            st = self.path.stat()
            if self._ino is not None and (st.st_ino != self._ino or st.st_size < self._offset):
                self._reset()  # rotated or truncated
            self._ino = st.st_ino
            with self.path.open("rb") as fh:
                fh.seek(self._offset)
                data = fh.read()
        except OSError as exc:
            raise SensorError(f"cannot read power log {self.path}: {exc.strerror or exc}") from exc
        complete, newline, rest = data.rpartition(b"\n")
        if newline:
            for raw in complete.split(b"\n"):
                self._lineno += 1
                sample = self._parse(raw.decode("utf-8", "replace"), self._lineno, partial=False)
                if sample is not None:
                    self._add(*sample)
            self._offset += len(complete) + 1
        if rest:
            return self._parse(rest.decode("utf-8", "replace"), self._lineno + 1, partial=True)
        return None

    def begin(self) -> object:
        """Note the wall-clock (UNIX) time."""
        return TimeToken(id(self), time.time())

    def end(self, token: object) -> PowerReading | None:
        """Average the logged samples whose timestamps fall in the window."""
        tok = self.check_token(token, TimeToken)
        t0, t1 = tok.t, time.time()
        pending = self._refresh()
        give_up = time.monotonic() + self.catch_up_s
        while (not self._times or max(self._times[-1], pending[0] if pending else -math.inf) < t1) \
                and time.monotonic() < give_up:
            time.sleep(0.002)
            pending = self._refresh()
        if self._sorted:
            lo, hi = bisect_left(self._times, t0), bisect_right(self._times, t1)
            watts = self._watts[lo:hi]
        else:
            watts = [w for t, w in zip(self._times, self._watts, strict=True) if t0 <= t <= t1]
        if pending is not None and t0 <= pending[0] <= t1:
            watts.append(pending[1])
        if not watts:
            raise SensorError(
                f"power log {self.path} has no samples in the window {t0:.3f}..{t1:.3f} "
                f"({t1 - t0:.3f} s): is the meter logging, fast enough for this window, and are the clocks in sync?"
            )
        return mean_reading(math.fsum(watts) / len(watts), t1 - t0, len(watts), "log")
