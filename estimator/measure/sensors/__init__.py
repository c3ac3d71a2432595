"""Power sensors: one begin()/end() window interface over NVML, RAPL, INA3221, a meter's log, or none."""

from __future__ import annotations

from estimator.measure.sensors.base import CounterSensor, NoSensor, PowerReading, PowerSensor, SensorDetection
from estimator.measure.sensors.counter_aligned import CounterAlignedSensor
from estimator.measure.sensors.detection import (
    SENSOR_NAMES,
    detect_sensors,
    measure_counter_update_interval,
    measure_idle_power,
    open_sensor,
)
from estimator.measure.sensors.ina3221 import Ina3221Sensor
from estimator.measure.sensors.meter_log import LogFileSensor
from estimator.measure.sensors.nvml import NvmlSensor, nvml_device_for_cuda_index
from estimator.measure.sensors.rapl import RaplSensor

__all__ = [
    "SENSOR_NAMES",
    "CounterAlignedSensor",
    "CounterSensor",
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
    "nvml_device_for_cuda_index",
    "open_sensor",
]
