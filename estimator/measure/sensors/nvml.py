"""NVIDIA GPU power through NVML: the total-energy counter (Volta and newer), else polled power usage."""

from __future__ import annotations

import os
import time
import warnings
from typing import Any

from estimator.errors import SensorError
from estimator.measure.sensors.base import (
    CounterSensor,
    CounterToken,
    Poller,
    PowerReading,
    TimeToken,
    counter_reading,
    poll_window,
    start_poller,
    stop_poller,
)

__all__ = ["NvmlSensor", "load_nvml", "nvml_device_for_cuda_index", "nvml_driver_version"]


def load_nvml(nvml_module: object | None = None) -> Any:
    """The given NVML module (a stand-in in tests), else pynvml; SensorError says how to install it."""
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


class NvmlSensor(CounterSensor):
    """NVIDIA GPU power through NVML: total-energy counter (Volta+), else polled power usage."""

    name = "nvml"

    def __init__(
        self, nvml_module: object | None = None, device_index: int | str = 0, poll_interval_s: float = 0.005
    ) -> None:
        """Initialise NVML and probe the GPU at device_index (an NVML index, or a UUID); SensorError if unusable.

        NVML numbers every GPU of the machine; CUDA numbers the visible ones: nvml_device_for_cuda_index
        gives the device_index of a CUDA device.
        """
        if poll_interval_s <= 0:
            raise SensorError(f"poll_interval_s must be > 0, got {poll_interval_s}")
        self._nvml = load_nvml(nvml_module)
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
        self._poller: Poller | None = None
        self._open()

    def _open(self) -> None:
        nvml, errors = self._nvml, self._errors
        try:
            nvml.nvmlInit()
        except errors as exc:
            raise SensorError(f"NVML could not start: {exc} (is an NVIDIA driver installed and loaded?)") from exc
        self._initialized = True
        try:
            self._handle = self._device_handle()
        except SensorError:
            self._shutdown()
            raise
        except errors as exc:
            self._shutdown()
            raise SensorError(
                f"NVML has no usable GPU at index {self.device_index}: {exc}; pick another device_index"
            ) from exc
        try:
            self.device_name = _text(nvml.nvmlDeviceGetName(self._handle))
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

    def _device_handle(self) -> Any:
        nvml, device = self._nvml, self.device_index
        if not isinstance(device, str):
            return nvml.nvmlDeviceGetHandleByIndex(device)
        # CUDA_VISIBLE_DEVICES may name a GPU by a unique prefix of its UUID; NVML wants the whole UUID.
        handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())]
        uuids = [_text(nvml.nvmlDeviceGetUUID(handle)) for handle in handles]
        matches = [handle for handle, uuid in zip(handles, uuids, strict=True) if uuid.startswith(device)]
        if len(matches) != 1:
            raise SensorError(f"NVML has {'no' if not matches else 'more than one'} GPU whose UUID starts with "
                              f"{device!r} (it has {', '.join(uuids) or 'none'}); check CUDA_VISIBLE_DEVICES")
        return matches[0]

    def use_polling(self) -> None:
        """Read power by polling from now on (for a counter too coarse for short windows)."""
        self.method = "polling"
        self.start()

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
        return self.describe_interval(facts)

    def start(self) -> None:
        """Initialise NVML if stopped and, in polling mode, start the polling thread."""
        if not self._initialized:
            self._open()
        if self.method == "polling":
            self._poller = start_poller(self._poller, self._read_power_w, self.poll_interval_s, "nvml")

    def stop(self) -> None:
        """Stop polling and shut NVML down."""
        stop_poller(self._poller)
        self._poller = None
        self._shutdown()

    def read_counter(self) -> int:
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
            return TimeToken(id(self), time.perf_counter())
        value = self.read_counter()
        return CounterToken(id(self), time.perf_counter(), value)

    def end(self, token: object) -> PowerReading | None:
        """Return energy delta / duration, or the mean of polled samples in the window."""
        if self.method == "polling":
            tok = self.check_token(token, TimeToken)
            if self._poller is None:
                raise SensorError("nvml sensor was stopped inside a window")
            return poll_window(self._poller, tok.t, self._read_power_w)
        tok = self.check_token(token, CounterToken)
        value = self.read_counter()
        t1 = time.perf_counter()
        if value < tok.value:
            raise SensorError(
                f"NVML energy counter of GPU {self.device_index} went backwards "
                f"({tok.value} -> {value} mJ); was the driver reloaded?"
            )
        return counter_reading(float(value - tok.value), t1 - tok.t, "nvml")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def nvml_device_for_cuda_index(cuda_index: int, visible_devices: str | None = None) -> int | str:
    """The NVML device (index or UUID) of CUDA device `cuda_index`.

    CUDA device N is the N-th entry of CUDA_VISIBLE_DEVICES (read from the environment when
    `visible_devices` is None); an entry is an NVML index or a GPU/MIG UUID (or a unique prefix of
    one), and CUDA ignores the entries from the first invalid one on. Without the variable every
    GPU is visible and the indices agree (CUDA_DEVICE_ORDER=PCI_BUS_ID, or GPUs of one model).
    """
    if visible_devices is None:
        visible_devices = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible_devices is None:
        return cuda_index
    entries: list[int | str] = []
    for entry in (part.strip() for part in visible_devices.split(",")):
        if entry.isdigit():
            entries.append(int(entry))
        elif entry.startswith(("GPU-", "MIG-")):
            entries.append(entry)
        else:
            break
    if not 0 <= cuda_index < len(entries):
        raise SensorError(f"CUDA device {cuda_index} is not visible: CUDA_VISIBLE_DEVICES={visible_devices!r} "
                          f"makes {len(entries)} device(s) visible")
    return entries[cuda_index]


def nvml_driver_version() -> str | None:
    """The NVIDIA driver version through NVML, when nvidia-ml-py is installed and a driver answers."""
    try:
        nvml = load_nvml()
    except SensorError:
        return None
    try:
        nvml.nvmlInit()
        try:
            version = nvml.nvmlSystemGetDriverVersion()
        finally:
            nvml.nvmlShutdown()
    except Exception:  # any NVML failure only loses this fact
        return None
    return _text(version)
