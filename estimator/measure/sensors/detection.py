"""Finding and opening a power sensor by name ("auto" picks the first usable one), and idle power."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from estimator.errors import SensorError
from estimator.measure.sensors.base import CounterSensor, NoSensor, PowerReading, PowerSensor, SensorDetection
from estimator.measure.sensors.ina3221 import Ina3221Sensor
from estimator.measure.sensors.meter_log import LogFileSensor
from estimator.measure.sensors.nvml import NvmlSensor
from estimator.measure.sensors.rapl import RaplSensor

__all__ = ["SENSOR_NAMES", "detect_sensors", "measure_counter_update_interval", "measure_idle_power", "open_sensor"]

SENSOR_NAMES: tuple[str, ...] = ("nvml", "rapl", "ina3221", "log", "none")


def measure_counter_update_interval(sensor: PowerSensor, seconds: float = 1.0) -> float | None:
    """Return the median seconds between energy-counter changes (None without a counter)."""
    if not isinstance(sensor, CounterSensor) or not sensor.has_energy_counter:
        return None
    return sensor.measure_update_interval(seconds)


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
