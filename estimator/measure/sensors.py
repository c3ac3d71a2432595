"""Power sensors: one interface for reading a device's power while a layer runs in a loop.

Every sensor measures *windows*: ``token = sensor.begin()``, run the workload,
``reading = sensor.end(token)``.  Counter sensors (NVML energy, RAPL) difference a
hardware energy counter; polling sensors (NVML power, INA3221) average samples taken
by a background thread; the log sensor averages an external meter's log.
"""

from __future__ import annotations

import itertools
import math
import re
import statistics
import threading
import time
import warnings
from abc import ABC, abstractmethod
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from estimator.errors import SensorError

__all__ = [
    "SENSOR_NAMES",
    "Ina3221Sensor",
    "LogFileSensor",
    "NoSensor",
    "NvmlSensor",
    "PowerReading",
    "PowerSensor",
    "RaplSensor",
    "SensorDetection",
    "detect_sensors",
    "measure_counter_update_interval",
    "measure_idle_power",
    "open_sensor",
]

SENSOR_NAMES: tuple[str, ...] = ("nvml", "rapl", "ina3221", "log", "none")

_S = TypeVar("_S", bound="PowerSensor")

# Largest error a counter's update granularity may add to a window, used for "min_window_s".
_MAX_QUANTISATION_ERROR = 0.02
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
class _CounterToken:
    sensor_id: int
    t: float
    value: Any


@dataclass(frozen=True)
class _TimeToken:
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

    def _check_token(self, token: object, kind: type) -> Any:
        if not isinstance(token, kind) or token.sensor_id != id(self):
            raise SensorError(f"{self.name} sensor: end() got a token that its own begin() did not return")
        return token


# --------------------------------------------------------------------------- helpers


def _read_sysfs(path: Path) -> str:
    try:
        return path.read_text().strip()
    except PermissionError as exc:
        raise SensorError(
            f"cannot read {path}: permission denied; run as root or make it readable (sudo chmod a+r {path})"
        ) from exc
    except OSError as exc:
        raise SensorError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _read_number(path: Path) -> float:
    text = _read_sysfs(path)
    try:
        value = float(text)
    except ValueError:
        raise SensorError(f"{path} holds {text!r}, not a number") from None
    if not math.isfinite(value):
        raise SensorError(f"{path} holds {text!r}, not a finite number")
    return value


def _read_int(path: Path) -> int:
    text = _read_sysfs(path)
    try:
        return int(text)
    except ValueError:
        raise SensorError(f"{path} holds {text!r}, not an integer") from None


def _natural_key(path: Path) -> tuple[object, ...]:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", path.name))


def _counter_reading(energy_mj: float, duration_s: float, what: str) -> PowerReading:
    if duration_s <= 0:
        raise SensorError(f"{what}: window has no duration ({duration_s} s)")
    return PowerReading(
        power_w=energy_mj / 1000.0 / duration_s,
        energy_mj=energy_mj,
        duration_s=duration_s,
        samples=2,
        method="energy-counter",
    )


def _mean_reading(power_w: float, duration_s: float, samples: int, method: str) -> PowerReading:
    return PowerReading(
        power_w=power_w,
        energy_mj=power_w * duration_s * 1000.0,
        duration_s=duration_s,
        samples=samples,
        method=method,
    )


class _Poller:
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


def _poll_window(poller: _Poller, t0: float, read_now: Callable[[], float]) -> PowerReading:
    t1 = time.perf_counter()
    total, count = poller.window(t0, t1)
    if count == 0:
        total, count = read_now(), 1
    return _mean_reading(total / count, t1 - t0, count, "polling")


# --------------------------------------------------------------------------- none


class NoSensor(PowerSensor):
    """No power sensor: windows are timed but carry no power."""

    name = "none"

    def describe(self) -> dict[str, object]:
        """Say that no power is measured."""
        return {"sensor": "none", "method": None, "detail": "no power sensor; power is not measured"}

    def begin(self) -> object:
        """Return a token (unused)."""
        return _TimeToken(id(self), time.perf_counter())

    def end(self, token: object) -> PowerReading | None:
        """Return None: there is nothing to read."""
        self._check_token(token, _TimeToken)
        return None


# --------------------------------------------------------------------------- counter sensors


class _CounterSensor(PowerSensor):
    """A sensor with a hardware energy counter that measure_counter_update_interval can probe."""

    _update_interval_s: float | None = None

    @property
    def has_energy_counter(self) -> bool:
        return True

    @abstractmethod
    def _read_counter(self) -> Any:
        """Read the raw counter value(s)."""

    def _describe_interval(self, facts: dict[str, object]) -> dict[str, object]:
        if self._update_interval_s is not None:
            facts["counter_update_interval_s"] = self._update_interval_s
            facts["min_window_s"] = self._update_interval_s / _MAX_QUANTISATION_ERROR
        return facts


def _load_nvml(nvml_module: object | None) -> Any:
    if nvml_module is not None:
        return nvml_module
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pynvml
    except ImportError as exc:
        raise SensorError(
            "the NVML sensor needs the pynvml module, which is missing: install nvidia-ml-py "
            "(pip install nvidia-ml-py) or choose another sensor"
        ) from exc
    return pynvml


class NvmlSensor(_CounterSensor):
    """NVIDIA GPU power through NVML: total-energy counter (Volta+), else polled power usage."""

    name = "nvml"

    def __init__(
        self, nvml_module: object | None = None, device_index: int = 0, poll_interval_s: float = 0.005
    ) -> None:
        """Initialise NVML and probe the GPU at device_index; raise SensorError if unusable."""
        if poll_interval_s <= 0:
            raise SensorError(f"poll_interval_s must be > 0, got {poll_interval_s}")
        self._nvml = _load_nvml(nvml_module)
        err = getattr(self._nvml, "NVMLError", None)
        self._errors: tuple[type[BaseException], ...] = (
            (err, OSError) if isinstance(err, type) and issubclass(err, BaseException) else (Exception,)
        )
        self.device_index = device_index
        self.poll_interval_s = poll_interval_s
        self.device_name = "unknown"
        self.method = "energy-counter"
        self._handle: Any = None
        self._initialized = False
        self._poller: _Poller | None = None
        self._open()

    def _open(self) -> None:
        nvml, errors = self._nvml, self._errors
        try:
            nvml.nvmlInit()
        except errors as exc:
            raise SensorError(f"NVML could not start: {exc} (is an NVIDIA driver installed and loaded?)") from exc
        self._initialized = True
        try:
            self._handle = nvml.nvmlDeviceGetHandleByIndex(self.device_index)
        except errors as exc:
            self._shutdown()
            raise SensorError(
                f"NVML has no usable GPU at index {self.device_index}: {exc}; pick another device_index"
            ) from exc
        try:
            name = nvml.nvmlDeviceGetName(self._handle)
            self.device_name = name.decode() if isinstance(name, bytes) else str(name)
        except errors:
            self.device_name = "unknown"
        try:
            nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle)
            self.method = "energy-counter"
        except errors as energy_exc:
            try:
                nvml.nvmlDeviceGetPowerUsage(self._handle)
            except errors as power_exc:
                self._shutdown()
                raise SensorError(
                    f"GPU {self.device_index} ({self.device_name}) reports neither total energy "
                    f"({energy_exc}) nor power usage ({power_exc}) through NVML"
                ) from power_exc
            self.method = "polling"

    def _shutdown(self) -> None:
        if self._initialized:
            self._initialized = False
            try:
                self._nvml.nvmlShutdown()
            except self._errors:
                pass

    @property
    def has_energy_counter(self) -> bool:
        return self.method == "energy-counter"

    def describe(self) -> dict[str, object]:
        """Return the GPU index and name, and the method (energy counter or polling)."""
        facts: dict[str, object] = {
            "sensor": "nvml",
            "device_index": self.device_index,
            "device_name": self.device_name,
            "method": self.method,
        }
        if self.method == "polling":
            facts["poll_interval_s"] = self.poll_interval_s
        return self._describe_interval(facts)

    def start(self) -> None:
        """Initialise NVML if stopped and, in polling mode, start the polling thread."""
        if not self._initialized:
            self._open()
        if self.method == "polling" and (self._poller is None or not self._poller.running):
            self._poller = _Poller(self._read_power_w, self.poll_interval_s, "nvml")
            self._poller.start()

    def stop(self) -> None:
        """Stop polling and shut NVML down."""
        if self._poller is not None:
            self._poller.stop()
            self._poller = None
        self._shutdown()

    def _read_counter(self) -> int:
        try:
            return int(self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle))
        except self._errors as exc:
            raise SensorError(f"NVML total-energy read failed on GPU {self.device_index}: {exc}") from exc

    def _read_power_w(self) -> float:
        try:
            return float(self._nvml.nvmlDeviceGetPowerUsage(self._handle)) / 1000.0
        except self._errors as exc:
            raise SensorError(f"NVML power read failed on GPU {self.device_index}: {exc}") from exc

    def begin(self) -> object:
        """Read the energy counter (or note the time, when polling)."""
        self.start()
        if self.method == "polling":
            return _TimeToken(id(self), time.perf_counter())
        value = self._read_counter()
        return _CounterToken(id(self), time.perf_counter(), value)

    def end(self, token: object) -> PowerReading | None:
        """Return energy delta / duration, or the mean of polled samples in the window."""
        if self.method == "polling":
            tok = self._check_token(token, _TimeToken)
            if self._poller is None:
                raise SensorError("nvml sensor was stopped inside a window")
            return _poll_window(self._poller, tok.t, self._read_power_w)
        tok = self._check_token(token, _CounterToken)
        value = self._read_counter()
        t1 = time.perf_counter()
        if value < tok.value:
            raise SensorError(
                f"NVML energy counter of GPU {self.device_index} went backwards "
                f"({tok.value} -> {value} mJ); was the driver reloaded?"
            )
        return _counter_reading(float(value - tok.value), t1 - tok.t, "nvml")


_RAPL_ZONE = re.compile(r"^[\w-]*rapl[\w-]*:\d+$")


@dataclass(frozen=True)
class _RaplZone:
    path: Path
    name: str
    max_range_uj: int | None


class RaplSensor(_CounterSensor):
    """CPU package energy from RAPL through the Linux powercap sysfs (Intel and AMD)."""

    name = "rapl"

    def __init__(self, sysfs_root: str | Path = "/") -> None:
        """Find the top-level package zones and check their counters are readable."""
        self.base = Path(sysfs_root) / "sys" / "class" / "powercap"
        self.zones = self._find_zones()
        for zone in self.zones:
            _read_int(zone.path / "energy_uj")

    def _find_zones(self) -> list[_RaplZone]:
        try:
            dirs = sorted((p for p in self.base.iterdir() if _RAPL_ZONE.match(p.name)), key=_natural_key)
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
            name = _read_sysfs(d / "name") if (d / "name").exists() else d.name
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
            max_range = _read_int(max_path) if max_path.exists() else None
            zones.append(_RaplZone(d, n, max_range))
        return sorted(zones, key=lambda z: _natural_key(z.path))

    def describe(self) -> dict[str, object]:
        """Return the summed zones (path, name, wrap range) and the method."""
        facts: dict[str, object] = {
            "sensor": "rapl",
            "method": "energy-counter",
            "zones": [{"path": str(z.path), "name": z.name, "max_energy_range_uj": z.max_range_uj} for z in self.zones],
        }
        return self._describe_interval(facts)

    def _read_counter(self) -> tuple[int, ...]:
        return tuple(_read_int(z.path / "energy_uj") for z in self.zones)

    def begin(self) -> object:
        """Read every zone's energy counter."""
        value = self._read_counter()
        return _CounterToken(id(self), time.perf_counter(), value)

    def end(self, token: object) -> PowerReading | None:
        """Return the summed, wrap-corrected energy delta over the window."""
        tok = self._check_token(token, _CounterToken)
        value = self._read_counter()
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
        return _counter_reading(total_uj / 1000.0, t1 - tok.t, "rapl")


# --------------------------------------------------------------------------- polling sensors


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
        label = _read_sysfs(label_p) if label_p.exists() else f"channel{n}"
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
        self._poller: _Poller | None = None
        self._read_power_w()

    def _find_channels(self) -> list[_Ina3221Channel]:
        root = self.root
        hwmon: list[Path] = []
        for d in sorted(root.glob("sys/class/hwmon/hwmon*"), key=_natural_key):
            if (d / "name").exists() and _read_sysfs(d / "name") == "ina3221":
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
            return _read_number(ch.power_path) / 1000.0
        assert ch.current_path is not None and ch.voltage_path is not None
        return _read_number(ch.current_path) * _read_number(ch.voltage_path) / 1e6

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
        if self._poller is None or not self._poller.running:
            self._poller = _Poller(self._read_power_w, self.poll_interval_s, "ina3221")
            self._poller.start()

    def stop(self) -> None:
        """Stop the polling thread."""
        if self._poller is not None:
            self._poller.stop()
            self._poller = None

    def begin(self) -> object:
        """Note the window start (starting the polling thread if needed)."""
        self.start()
        return _TimeToken(id(self), time.perf_counter())

    def end(self, token: object) -> PowerReading | None:
        """Return the mean of samples taken in the window (one direct read if none)."""
        tok = self._check_token(token, _TimeToken)
        if self._poller is None:
            raise SensorError("ina3221 sensor was stopped inside a window")
        return _poll_window(self._poller, tok.t, self._read_power_w)


# --------------------------------------------------------------------------- log file


_LOG_SPLIT = re.compile(r"[,;\s]+")


class LogFileSensor(PowerSensor):
    """An external power meter's log of 'timestamp_s,power_w' lines (UNIX epoch seconds)."""

    name = "log"

    def __init__(self, log_path: str | Path) -> None:
        """Check the log exists; samples are read incrementally at each end()."""
        self.path = Path(log_path)
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
        return _TimeToken(id(self), time.time())

    def end(self, token: object) -> PowerReading | None:
        """Average the logged samples whose timestamps fall in the window."""
        tok = self._check_token(token, _TimeToken)
        t0, t1 = tok.t, time.time()
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
        return _mean_reading(math.fsum(watts) / len(watts), t1 - t0, len(watts), "log")


# --------------------------------------------------------------------------- public functions


def measure_counter_update_interval(sensor: PowerSensor, seconds: float = 1.0) -> float | None:
    """Return the median seconds between energy-counter changes (None without a counter)."""
    if not isinstance(sensor, _CounterSensor) or not sensor.has_energy_counter:
        return None
    sensor.start()
    prev = sensor._read_counter()
    changes: list[float] = []
    deadline = time.perf_counter() + seconds
    while (now := time.perf_counter()) < deadline:
        value = sensor._read_counter()
        if value != prev:
            changes.append(now)
            prev = value
    intervals = [b - a for a, b in itertools.pairwise(changes)]
    if not intervals:
        return None
    sensor._update_interval_s = statistics.median(intervals)
    return sensor._update_interval_s


def measure_idle_power(sensor: PowerSensor, seconds: float) -> PowerReading | None:
    """Return the sensor's reading over a window in which this thread sleeps `seconds`."""
    if not seconds > 0:
        raise SensorError(f"idle measurement needs seconds > 0, got {seconds}")
    token = sensor.begin()
    time.sleep(seconds)
    return sensor.end(token)


def _detection(name: str, make: Callable[[], PowerSensor]) -> SensorDetection:
    try:
        sensor = make()
    except SensorError as exc:
        return SensorDetection(name, False, str(exc))
    try:
        facts = sensor.describe()
    finally:
        sensor.stop()
    detail = ", ".join(f"{k}={v}" for k, v in facts.items() if k != "sensor" and not isinstance(v, list | dict))
    if isinstance(sensor, RaplSensor):
        detail += ", zones=" + "+".join(z.name for z in sensor.zones)
    return SensorDetection(name, True, detail)


def detect_sensors(sysfs_root: str | Path = "/", nvml_module: object | None = None) -> list[SensorDetection]:
    """Report, for every name in SENSOR_NAMES, whether that sensor is usable here and why."""
    return [
        _detection("nvml", lambda: NvmlSensor(nvml_module)),
        _detection("rapl", lambda: RaplSensor(sysfs_root)),
        _detection("ina3221", lambda: Ina3221Sensor(sysfs_root)),
        SensorDetection("log", False, "not auto-detected: open it with log_path= an external meter's log"),
        SensorDetection("none", True, "always available; records time but no power"),
    ]


def open_sensor(
    name: str = "auto",
    *,
    sysfs_root: str | Path = "/",
    nvml_module: object | None = None,
    device_index: int = 0,
    log_path: str | Path | None = None,
    rail: str | None = None,
    poll_interval_s: float = 0.005,
) -> PowerSensor:
    """Open a sensor by name; "auto" picks the first available of nvml, rapl, ina3221, else none."""
    makers: dict[str, Callable[[], PowerSensor]] = {
        "nvml": lambda: NvmlSensor(nvml_module, device_index, poll_interval_s),
        "rapl": lambda: RaplSensor(sysfs_root),
        "ina3221": lambda: Ina3221Sensor(sysfs_root, rail, poll_interval_s),
        "none": NoSensor,
    }
    if name == "auto":
        for candidate in ("nvml", "rapl", "ina3221"):
            try:
                sensor = makers[candidate]() if candidate != "ina3221" else Ina3221Sensor(sysfs_root)
            except SensorError:
                continue
            if candidate != "ina3221":
                return sensor
            # Found: reopen with the caller's rail so a wrong rail name is reported, not skipped.
            return makers[candidate]()
        return NoSensor()
    if name == "log":
        if log_path is None:
            raise SensorError("the log sensor needs log_path: the file an external power meter writes")
        return LogFileSensor(log_path)
    if name not in makers:
        raise SensorError(f"unknown power sensor {name!r}; choose 'auto' or one of: {', '.join(SENSOR_NAMES)}")
    return makers[name]()
