"""Jetson board power from the INA3221 monitor (hwmon or legacy iio sysfs), polled in a background thread."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from estimator.errors import SensorError
from estimator.measure.sensors.base import Poller, PowerReading, PowerSensor, TimeToken, poll_window, start_poller, stop_poller
from estimator.measure.sensors.sysfs import natural_key, read_number, read_sysfs

__all__ = ["Ina3221Sensor"]


@dataclass(frozen=True)
class _Ina3221Channel:
    device: Path
    channel: int
    label: str
    power_path: Path | None  # milliwatts
    current_path: Path | None  # milliamps
    voltage_path: Path | None  # millivolts


def _ina3221_channels(dev: Path, iio: bool) -> list[_Ina3221Channel]:
    channels = []
    for n in range(3) if iio else range(1, 4):
        if iio:
            label_p, power_p = dev / f"rail_name_{n}", dev / f"in_power{n}_input"
            curr_p, volt_p = dev / f"in_current{n}_input", dev / f"in_voltage{n}_input"
        else:
            label_p, power_p = dev / f"in{n}_label", dev / f"in_power{n}_input"
            curr_p, volt_p = dev / f"curr{n}_input", dev / f"in{n}_input"
        label = read_sysfs(label_p) if label_p.exists() else f"channel{n}"
        if power_p.exists():
            channels.append(_Ina3221Channel(dev, n, label, power_p, None, None))
        elif curr_p.exists() and volt_p.exists():
            channels.append(_Ina3221Channel(dev, n, label, None, curr_p, volt_p))
    return channels


class Ina3221Sensor(PowerSensor):
    """Jetson board power from the INA3221 monitor (hwmon sysfs), polled in a background thread."""

    name = "ina3221"

    def __init__(self, sysfs_root: str | Path = "/", rail: str | None = None, poll_interval_s: float = 0.005) -> None:
        """Find INA3221 channels, pick the rail (default: board input) and read it once."""
        if poll_interval_s <= 0:
            raise SensorError(f"poll_interval_s must be > 0, got {poll_interval_s}")
        self.root = Path(sysfs_root)
        self.poll_interval_s = poll_interval_s
        self.channels = self._find_channels()
        self.channel = self._pick(rail)
        self._poller: Poller | None = None
        self._read_power_w()

    def _find_channels(self) -> list[_Ina3221Channel]:
        root = self.root
        hwmon: list[Path] = []
        for d in sorted(root.glob("sys/class/hwmon/hwmon*"), key=natural_key):
            if (d / "name").exists() and read_sysfs(d / "name") == "ina3221":
                hwmon.append(d)
        hwmon += sorted(root.glob("sys/bus/i2c/drivers/ina3221/*/hwmon/hwmon*"), key=lambda p: str(p))
        iio = sorted(root.glob("sys/bus/i2c/drivers/ina3221x/*/iio:device*"), key=lambda p: str(p))
        channels: list[_Ina3221Channel] = []
        seen: set[Path] = set()
        for devs, is_iio in ((hwmon, False), (iio, True)):
            for dev in devs:
                real = dev.resolve()
                if real in seen:
                    continue
                seen.add(real)
                channels += _ina3221_channels(dev, is_iio)
        if not channels:
            raise SensorError(
                f"no INA3221 power monitor found: no {root / 'sys/class/hwmon/hwmon*/name'} reads 'ina3221' "
                f"and {root / 'sys/bus/i2c/drivers/ina3221'} has no channels; this sensor exists on "
                "NVIDIA Jetson boards, choose another sensor elsewhere"
            )
        return channels

    def _pick(self, rail: str | None) -> _Ina3221Channel:
        if rail is not None:
            for ch in self.channels:
                if ch.label.lower() == rail.lower():
                    return ch
            labels = ", ".join(ch.label for ch in self.channels)
            raise SensorError(f"INA3221 has no rail {rail!r}; available rails: {labels}")
        for wanted in ("VDD_IN", "POM_5V_IN"):
            for ch in self.channels:
                if ch.label.upper() == wanted:
                    return ch
        return self.channels[0]

    def _read_power_w(self) -> float:
        ch = self.channel
        if ch.power_path is not None:
            return read_number(ch.power_path) / 1000.0
        assert ch.current_path is not None and ch.voltage_path is not None
        return read_number(ch.current_path) * read_number(ch.voltage_path) / 1e6

    def describe(self) -> dict[str, object]:
        """Return the device, rail, files, method and poll interval."""
        ch = self.channel
        files = [str(p) for p in (ch.power_path, ch.current_path, ch.voltage_path) if p is not None]
        return {
            "sensor": "ina3221",
            "method": "polling",
            "device": str(ch.device),
            "rail": ch.label,
            "channel": ch.channel,
            "files": files,
            "poll_interval_s": self.poll_interval_s,
            "rails_available": [c.label for c in self.channels],
        }

    def start(self) -> None:
        """Start the polling thread."""
        self._poller = start_poller(self._poller, self._read_power_w, self.poll_interval_s, "ina3221")

    def stop(self) -> None:
        """Stop the polling thread."""
        stop_poller(self._poller)
        self._poller = None

    def begin(self) -> object:
        """Note the window start (starting the polling thread if needed)."""
        self.start()
        return TimeToken(id(self), time.perf_counter())

    def end(self, token: object) -> PowerReading | None:
        """Return the mean of samples taken in the window (one direct read if none)."""
        tok = self.check_token(token, TimeToken)
        if self._poller is None:
            raise SensorError("ina3221 sensor was stopped inside a window")
        return poll_window(self._poller, tok.t, self._read_power_w)
