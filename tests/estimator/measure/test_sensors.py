"""Tests for estimator.measure.sensors against fake sysfs trees, a stub NVML module and fake logs."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from estimator.errors import SensorError
from estimator.measure import sensors
from estimator.measure.sensors import (
    SENSOR_NAMES,
    Ina3221Sensor,
    LogFileSensor,
    NoSensor,
    NvmlSensor,
    PowerReading,
    RaplSensor,
    SensorDetection,
    detect_sensors,
    measure_counter_update_interval,
    measure_idle_power,
    nvml_device_for_cuda_index,
    open_sensor,
)

# --------------------------------------------------------------------------- fakes


class FakeNvml:
    """Stands in for the pynvml module: energy grows by step_mj per read, power is fixed."""

    class NVMLError(Exception):
        """NVML's error base class."""

    def __init__(
        self,
        energy: bool = True,
        power: bool = True,
        init_ok: bool = True,
        step_mj: int = 500,
        power_mw: int = 150_000,
        counter=None,
    ) -> None:
        self.energy_ok, self.power_ok, self.init_ok = energy, power, init_ok
        self.step_mj, self.power_mw = step_mj, power_mw
        self.counter_fn = counter
        self.energy_mj = 1_000_000
        self.inits = 0
        self.shutdowns = 0
        self.energy_reads = 0

    def nvmlInit(self) -> None:
        if not self.init_ok:
            raise self.NVMLError("Driver Not Loaded")
        self.inits += 1

    def nvmlShutdown(self) -> None:
        self.shutdowns += 1

    def nvmlDeviceGetHandleByIndex(self, index: int) -> tuple[str, int]:
        if index != 0:
            raise self.NVMLError("Invalid Argument")
        return ("gpu", index)

    def nvmlDeviceGetName(self, handle: object) -> bytes:
        return b"NVIDIA Fake GPU"

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: object) -> int:
        if not self.energy_ok:
            raise self.NVMLError("Not Supported")
        self.energy_reads += 1
        if self.counter_fn is not None:
            return self.counter_fn()
        self.energy_mj += self.step_mj
        return self.energy_mj

    def nvmlDeviceGetPowerUsage(self, handle: object) -> int:
        if not self.power_ok:
            raise self.NVMLError("Not Supported")
        return self.power_mw


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


def make_rapl(root: Path) -> Path:
    """Two packages (package-1 near its wrap point), a sub-zone, an mmio duplicate and psys."""
    pc = root / "sys/class/powercap"
    (pc / "intel-rapl").mkdir(parents=True)  # the control type, not a zone
    write(pc / "intel-rapl/enabled", "1")
    for zone, name, energy, max_range in [
        ("intel-rapl:0", "package-0", 1_000, 262_143_328_850),
        ("intel-rapl:0:0", "core", 5_000, 262_143_328_850),
        ("intel-rapl:1", "package-1", 999_000, 1_000_000),
        ("intel-rapl-mmio:0", "package-0", 7, 262_143_328_850),
        ("intel-rapl:2", "psys", 8, 262_143_328_850),
    ]:
        write(pc / zone / "name", name)
        write(pc / zone / "energy_uj", str(energy))
        write(pc / zone / "max_energy_range_uj", str(max_range))
    return pc


def make_ina3221(root: Path, labels=("VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC")) -> Path:
    """A Jetson Orin-like hwmon INA3221 (mA and mV), next to an unrelated hwmon device."""
    write(root / "sys/class/hwmon/hwmon0/name", "cpu_thermal")
    write(root / "sys/class/hwmon/hwmon0/temp1_input", "40000")
    dev = root / "sys/class/hwmon/hwmon1"
    write(dev / "name", "ina3221")
    values = {1: (5000, 1200), 2: (5000, 300), 3: (4992, 625)}  # mV, mA
    for n, label in enumerate(labels, start=1):
        mv, ma = values[n]
        write(dev / f"in{n}_label", label)
        write(dev / f"in{n}_input", str(mv))
        write(dev / f"curr{n}_input", str(ma))
    return dev


# --------------------------------------------------------------------------- detection / opening


def test_detect_on_empty_root_reports_reasons(tmp_path: Path) -> None:
    found = detect_sensors(tmp_path, nvml_module=FakeNvml(init_ok=False))
    assert [d.name for d in found] == list(SENSOR_NAMES)
    by_name = {d.name: d for d in found}
    for name in ("nvml", "rapl", "ina3221"):
        assert not by_name[name].available
        assert by_name[name].detail
    assert "Driver Not Loaded" in by_name["nvml"].detail
    assert "powercap" in by_name["rapl"].detail
    assert "ina3221" in by_name["ina3221"].detail
    assert by_name["none"].available


def test_detect_finds_fakes(tmp_path: Path) -> None:
    make_rapl(tmp_path)
    make_ina3221(tmp_path)
    by_name = {d.name: d for d in detect_sensors(tmp_path, nvml_module=FakeNvml())}
    assert by_name["nvml"].available and "NVIDIA Fake GPU" in by_name["nvml"].detail
    assert by_name["rapl"].available and "package-0+package-1" in by_name["rapl"].detail
    assert by_name["ina3221"].available and "VDD_IN" in by_name["ina3221"].detail


def test_nvml_missing_module_says_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "pynvml", None)
    with pytest.raises(SensorError, match="nvidia-ml-py"):
        open_sensor("nvml")


def test_open_unknown_lists_names() -> None:
    with pytest.raises(SensorError) as info:
        open_sensor("bogus")
    for name in SENSOR_NAMES:
        assert name in str(info.value)


def test_open_rapl_on_empty_root_names_path(tmp_path: Path) -> None:
    with pytest.raises(SensorError) as info:
        open_sensor("rapl", sysfs_root=tmp_path)
    assert str(tmp_path / "sys/class/powercap") in str(info.value)


def test_open_ina3221_on_empty_root(tmp_path: Path) -> None:
    with pytest.raises(SensorError, match="Jetson"):
        open_sensor("ina3221", sysfs_root=tmp_path)


def test_open_log_needs_path(tmp_path: Path) -> None:
    with pytest.raises(SensorError, match="log_path"):
        open_sensor("log")
    with pytest.raises(SensorError, match="does not exist"):
        open_sensor("log", log_path=tmp_path / "missing.csv")


def test_auto_order(tmp_path: Path) -> None:
    assert isinstance(open_sensor("auto", sysfs_root=tmp_path, nvml_module=FakeNvml(init_ok=False)), NoSensor)
    make_ina3221(tmp_path)
    assert isinstance(open_sensor(sysfs_root=tmp_path, nvml_module=FakeNvml(init_ok=False)), Ina3221Sensor)
    make_rapl(tmp_path)
    assert isinstance(open_sensor(sysfs_root=tmp_path, nvml_module=FakeNvml(init_ok=False)), RaplSensor)
    sensor = open_sensor(sysfs_root=tmp_path, nvml_module=FakeNvml())
    assert isinstance(sensor, NvmlSensor)
    sensor.stop()


def test_auto_reports_bad_rail(tmp_path: Path) -> None:
    make_ina3221(tmp_path)
    with pytest.raises(SensorError, match="VDD_SOC"):
        open_sensor(sysfs_root=tmp_path, nvml_module=FakeNvml(init_ok=False), rail="NOPE")


def test_none_sensor() -> None:
    sensor = open_sensor("none")
    with sensor:
        assert sensor.end(sensor.begin()) is None
        assert measure_idle_power(sensor, 0.001) is None
    assert "no power sensor" in json.dumps(sensor.describe())


def test_foreign_token_rejected() -> None:
    a, b = NoSensor(), NoSensor()
    with pytest.raises(SensorError, match="token"):
        a.end(b.begin())


# --------------------------------------------------------------------------- NVML


def test_nvml_energy_counter_exact() -> None:
    nvml = FakeNvml(step_mj=500)
    with NvmlSensor(nvml) as sensor:
        facts = sensor.describe()
        assert facts["method"] == "energy-counter"
        assert facts["device_name"] == "NVIDIA Fake GPU"
        assert "counter_update_interval_s" not in facts
        token = sensor.begin()
        reading = sensor.end(token)
    assert isinstance(reading, PowerReading)
    assert reading.energy_mj == 500.0
    assert reading.method == "energy-counter"
    assert reading.samples == 2
    assert reading.duration_s > 0
    assert reading.power_w == pytest.approx(0.5 / reading.duration_s)
    assert nvml.shutdowns == nvml.inits == 1
    json.dumps(facts)


def test_nvml_idle_power() -> None:
    sensor = NvmlSensor(FakeNvml(step_mj=40))
    reading = measure_idle_power(sensor, 0.01)
    sensor.stop()
    assert reading is not None
    assert reading.energy_mj == 40.0
    assert reading.duration_s >= 0.01


def test_nvml_counter_backwards_is_error() -> None:
    sensor = NvmlSensor(FakeNvml(step_mj=-1))
    with pytest.raises(SensorError, match="backwards"):
        sensor.end(sensor.begin())
    sensor.stop()


def test_nvml_falls_back_to_polling() -> None:
    nvml = FakeNvml(energy=False, power_mw=150_000)
    sensor = open_sensor("nvml", nvml_module=nvml, poll_interval_s=0.001)
    assert isinstance(sensor, NvmlSensor)
    with sensor:
        facts = sensor.describe()
        assert facts["method"] == "polling"
        assert facts["poll_interval_s"] == 0.001
        token = sensor.begin()
        time.sleep(0.02)
        reading = sensor.end(token)
        assert measure_counter_update_interval(sensor, 0.01) is None
    assert reading is not None
    assert reading.method == "polling"
    assert reading.power_w == 150.0
    assert reading.samples >= 1
    assert reading.energy_mj == pytest.approx(150.0 * reading.duration_s * 1000)


def test_nvml_without_energy_or_power_is_unavailable() -> None:
    with pytest.raises(SensorError, match="neither"):
        NvmlSensor(FakeNvml(energy=False, power=False))


def test_nvml_bad_index() -> None:
    nvml = FakeNvml()
    with pytest.raises(SensorError, match="index 3"):
        open_sensor("nvml", nvml_module=nvml, device_index=3)
    assert nvml.shutdowns == nvml.inits


def test_counter_update_interval() -> None:
    t0 = time.perf_counter()
    nvml = FakeNvml(counter=lambda: int((time.perf_counter() - t0) / 0.01) * 7)
    sensor = NvmlSensor(nvml)
    interval = measure_counter_update_interval(sensor, seconds=0.12)
    sensor.stop()
    assert interval is not None
    assert 0.005 < interval < 0.02
    facts = sensor.describe()
    assert facts["counter_update_interval_s"] == interval
    assert facts["min_window_s"] == pytest.approx(interval * 50)


# --------------------------------------------------------------------------- RAPL


def test_rapl_sums_packages_with_wraparound(tmp_path: Path) -> None:
    pc = make_rapl(tmp_path)
    sensor = open_sensor("rapl", sysfs_root=tmp_path)
    assert isinstance(sensor, RaplSensor)
    zones = sensor.describe()["zones"]
    assert [z["name"] for z in zones] == ["package-0", "package-1"]
    assert [Path(z["path"]).name for z in zones] == ["intel-rapl:0", "intel-rapl:1"]
    token = sensor.begin()
    write(pc / "intel-rapl:0/energy_uj", str(3_001_000))  # +3_000_000 uJ
    write(pc / "intel-rapl:1/energy_uj", str(500))  # wrapped: 1_000_000 - 999_000 + 500 = 1_500 uJ
    write(pc / "intel-rapl:0:0/energy_uj", str(9_000_000_000))  # sub-zone: must not count
    write(pc / "intel-rapl-mmio:0/energy_uj", str(9_000_000_000))  # duplicate: must not count
    write(pc / "intel-rapl:2/energy_uj", str(9_000_000_000))  # psys: must not count
    reading = sensor.end(token)
    assert reading is not None
    assert reading.energy_mj == 3001.5
    assert reading.method == "energy-counter"
    assert reading.power_w == pytest.approx(3.0015 / reading.duration_s)


def test_rapl_amd_style_zone(tmp_path: Path) -> None:
    zone = tmp_path / "sys/class/powercap/amd-rapl:0"
    write(zone / "name", "package-0")
    write(zone / "energy_uj", "10")
    write(zone / "max_energy_range_uj", "100")
    sensor = RaplSensor(tmp_path)
    token = sensor.begin()
    write(zone / "energy_uj", "4")
    reading = sensor.end(token)
    assert reading is not None and reading.energy_mj == pytest.approx(0.094)


def test_rapl_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_rapl(tmp_path)
    real = Path.read_text

    def deny(self: Path, *args: object, **kwargs: object) -> str:
        if self.name == "energy_uj":
            raise PermissionError(13, "Permission denied")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", deny)
    with pytest.raises(SensorError) as info:
        open_sensor("rapl", sysfs_root=tmp_path)
    message = str(info.value)
    assert "intel-rapl:0/energy_uj" in message and "chmod" in message and "root" in message
    assert not {d.name: d for d in detect_sensors(tmp_path, FakeNvml(init_ok=False))}["rapl"].available


# --------------------------------------------------------------------------- INA3221


def test_ina3221_default_rail_exact_power(tmp_path: Path) -> None:
    make_ina3221(tmp_path)
    with open_sensor("ina3221", sysfs_root=tmp_path, poll_interval_s=0.001) as sensor:
        facts = sensor.describe()
        assert facts["rail"] == "VDD_IN"
        assert facts["rails_available"] == ["VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"]
        token = sensor.begin()
        time.sleep(0.02)
        reading = sensor.end(token)
    assert reading is not None
    assert reading.power_w == 6.0  # 5000 mV * 1200 mA
    assert reading.method == "polling"
    assert reading.samples >= 1
    assert reading.energy_mj == pytest.approx(6.0 * reading.duration_s * 1000)


def test_ina3221_rail_by_label_and_sync_read(tmp_path: Path) -> None:
    make_ina3221(tmp_path)
    # A long interval: the thread samples once at start, before the window, so end() reads directly.
    with Ina3221Sensor(tmp_path, rail="vdd_soc", poll_interval_s=10.0) as sensor:
        reading = sensor.end(sensor.begin())
    assert reading is not None
    assert reading.samples == 1
    assert reading.power_w == 3.12  # 4992 mV * 625 mA


def test_ina3221_fallbacks(tmp_path: Path) -> None:
    dev = make_ina3221(tmp_path, labels=("VDD_GPU", "VDD_CPU", "VDD_SOC"))
    assert Ina3221Sensor(tmp_path).describe()["rail"] == "VDD_GPU"  # no input rail: channel 1
    with pytest.raises(SensorError, match="VDD_CPU"):
        Ina3221Sensor(tmp_path, rail="VDD_IN")
    write(dev / "in_power2_input", "2500")  # older milliwatt file wins over V*I
    with Ina3221Sensor(tmp_path, rail="VDD_CPU", poll_interval_s=10.0) as sensor:
        reading = sensor.end(sensor.begin())
    assert reading is not None and reading.power_w == 2.5


def test_ina3221_i2c_driver_path_and_legacy_iio(tmp_path: Path) -> None:
    hw = tmp_path / "sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon3"
    write(hw / "name", "ina3221")
    write(hw / "in1_label", "VDD_GPU_SOC")
    write(hw / "in1_input", "5000")
    write(hw / "curr1_input", "100")
    iio = tmp_path / "sys/bus/i2c/drivers/ina3221x/6-0040/iio:device0"
    write(iio / "rail_name_0", "POM_5V_IN")
    write(iio / "in_power0_input", "4321")
    sensor = Ina3221Sensor(tmp_path)
    assert sensor.describe()["rail"] == "POM_5V_IN"
    assert sensor.describe()["rails_available"] == ["VDD_GPU_SOC", "POM_5V_IN"]
    with sensor:
        reading = sensor.end(sensor.begin())
    assert reading is not None and reading.power_w == pytest.approx(4.321)


# --------------------------------------------------------------------------- log file


def test_log_window_selection(tmp_path: Path) -> None:
    log = tmp_path / "meter.csv"
    now = time.time()
    log.write_text(f"timestamp_s,power_w\n# meter v1\n\n{now - 100:.6f},999.0\n")
    sensor = open_sensor("log", log_path=log)
    assert sensor.describe()["path"] == str(log)
    token = sensor.begin()
    t_in = time.time()
    with log.open("a") as fh:
        fh.write(f"{t_in:.6f},10.0\n# comment\n{t_in:.6f},20.0\n{t_in + 100:.6f},777.0\n{t_in:.6f},3")  # partial
    time.sleep(0.002)
    reading = sensor.end(token)
    assert reading is not None
    assert reading.method == "log"
    assert reading.samples == 3
    assert reading.power_w == 11.0
    assert reading.energy_mj == pytest.approx(11.0 * reading.duration_s * 1000)


def test_log_incremental_and_empty_window(tmp_path: Path) -> None:
    log = tmp_path / "meter.csv"
    log.write_text("# nothing yet\n")
    sensor = LogFileSensor(log)
    with pytest.raises(SensorError, match="no samples"):
        sensor.end(sensor.begin())
    token = sensor.begin()
    with log.open("a") as fh:
        fh.write(f"{time.time():.6f} 42.5\n")  # whitespace-separated is accepted too
    reading = sensor.end(token)
    assert reading is not None and reading.power_w == 42.5 and reading.samples == 1


def test_log_waits_for_a_late_meter(tmp_path: Path) -> None:
    """A meter whose writer lags the window's end: end() waits until the log covers the window."""
    log = tmp_path / "meter.csv"
    log.write_text("timestamp_s,power_w\n")
    sensor = LogFileSensor(log, catch_up_s=2.0)
    token = sensor.begin()
    window_start = time.time()

    def late_writer() -> None:
        time.sleep(0.2)
        with log.open("a") as fh:
            fh.write(f"{window_start + 0.001:.6f},30.0\n{window_start + 0.002:.6f},32.0\n{time.time() + 1:.6f},99.0\n")

    writer = threading.Thread(target=late_writer)
    writer.start()
    time.sleep(0.05)  # the window: the meter has logged nothing of it yet
    reading = sensor.end(token)
    writer.join()
    assert reading is not None and reading.samples == 2 and reading.power_w == 31.0


def test_log_malformed_line_names_line(tmp_path: Path) -> None:
    log = tmp_path / "meter.csv"
    now = time.time()
    log.write_text(f"timestamp_s,power_w\n# c\n{now:.3f},5.0\n{now:.3f},oops\n")
    sensor = LogFileSensor(log)
    with pytest.raises(SensorError) as info:
        sensor.end(sensor.begin())
    assert f"{log}:4" in str(info.value)
    assert "oops" in str(info.value)


def test_idle_power_rejects_nonpositive() -> None:
    with pytest.raises(SensorError):
        measure_idle_power(NoSensor(), 0)


def test_all_exported() -> None:
    for name in sensors.__all__:
        assert hasattr(sensors, name)


# --------------------------------------------------------------------------- CUDA and NVML device numbering


@pytest.mark.parametrize(
    ("visible", "cuda_index", "expected"),
    [
        (None, 0, 0),  # every GPU visible: the numbers agree
        (None, 3, 3),
        ("2,0", 0, 2),  # CUDA device N is the N-th visible entry; NVML numbers all GPUs
        ("2,0", 1, 0),
        (" 3 , 1 ", 1, 1),
        ("GPU-8932f937-d72c-4106-c12f-20bd9faed9f6,1", 0, "GPU-8932f937-d72c-4106-c12f-20bd9faed9f6"),
        ("1,MIG-4a8c, 0", 1, "MIG-4a8c"),
    ],
)
def test_cuda_index_maps_through_cuda_visible_devices(visible, cuda_index, expected) -> None:
    assert nvml_device_for_cuda_index(cuda_index, visible) == expected


def test_cuda_visible_devices_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,2")
    assert nvml_device_for_cuda_index(1) == 2
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert nvml_device_for_cuda_index(1) == 1


@pytest.mark.parametrize("visible", ["", "0", "1,-1,0", "1,bogus,0"])
def test_a_cuda_index_that_is_not_visible_is_an_error(visible) -> None:
    # CUDA ignores the entries from the first invalid one on, so index 1 is not visible in any of these.
    with pytest.raises(SensorError, match="CUDA device 1 is not visible"):
        nvml_device_for_cuda_index(1, visible)


class TwoGpuNvml(FakeNvml):
    """Two GPUs with UUIDs; only GPU 1 reports power, so readings tell the devices apart."""

    UUIDS = ("GPU-aaaa1111-0000", "GPU-bbbb2222-0000")

    def nvmlDeviceGetHandleByIndex(self, index: int) -> tuple[str, int]:
        if index not in (0, 1):
            raise self.NVMLError("Invalid Argument")
        return ("gpu", index)

    def nvmlDeviceGetCount(self) -> int:
        return 2

    def nvmlDeviceGetUUID(self, handle: tuple[str, int]) -> str:
        return self.UUIDS[handle[1]]

    def nvmlDeviceGetName(self, handle: tuple[str, int]) -> bytes:
        return f"NVIDIA Fake GPU {handle[1]}".encode()


def test_nvml_sensor_opens_a_gpu_by_uuid_or_unique_prefix() -> None:
    assert NvmlSensor(TwoGpuNvml(), "GPU-bbbb2222-0000").device_name == "NVIDIA Fake GPU 1"
    sensor = NvmlSensor(TwoGpuNvml(), "GPU-aaaa")
    assert sensor.device_name == "NVIDIA Fake GPU 0" and sensor.describe()["device_index"] == "GPU-aaaa"
    with pytest.raises(SensorError, match="no GPU whose UUID starts with 'GPU-cccc'"):
        NvmlSensor(TwoGpuNvml(), "GPU-cccc")
    with pytest.raises(SensorError, match="more than one GPU"):
        NvmlSensor(TwoGpuNvml(), "GPU-")


def test_gpu_collection_opens_nvml_on_the_gpu_cuda_uses(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from estimator.measure import gpu_collection

    opened = {}

    def fake_open(name, device_index=0):
        opened.update(name=name, device_index=device_index)
        return NvmlSensor(TwoGpuNvml(), device_index)

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,0")
    monkeypatch.setattr(gpu_collection, "detect_sensors", lambda: [SensorDetection("nvml", True, "fake")])
    monkeypatch.setattr(gpu_collection, "open_sensor", fake_open)
    options = gpu_collection.GpuRunOptions(data_dir=tmp_path, zoo_dir=tmp_path, out=tmp_path, gpu_index=0)
    sensor, _ = gpu_collection.open_power_sensor(options)
    assert opened == {"name": "nvml", "device_index": 1}
    assert sensor.describe()["device_name"] == "NVIDIA Fake GPU 1"


# --------------------------------------------------------------------------- public methods callers use


def test_counter_sensor_measures_its_own_update_interval_and_read_latency() -> None:
    t0 = time.perf_counter()
    sensor = NvmlSensor(FakeNvml(counter=lambda: int((time.perf_counter() - t0) / 0.01) * 7))
    assert sensor.update_interval_s is None
    interval = sensor.measure_update_interval(0.12)
    assert interval is not None and sensor.update_interval_s == interval
    assert 0 <= sensor.read_latency_s(reads=5) < 0.01
    sensor.stop()


def test_nvml_switches_to_polling_on_request() -> None:
    sensor = NvmlSensor(FakeNvml(power_mw=90_000), poll_interval_s=0.001)
    assert sensor.has_energy_counter
    sensor.use_polling()
    assert not sensor.has_energy_counter and sensor.describe()["method"] == "polling"
    token = sensor.begin()
    time.sleep(0.01)
    reading = sensor.end(token)
    sensor.stop()
    assert reading is not None and reading.method == "polling" and reading.power_w == 90.0


def test_aligned_window_skips_an_update_dated_too_loosely(monkeypatch) -> None:
    """An update seen 50 ms after the previous read cannot be dated; the window uses the next one."""
    from estimator.measure.sensors import counter_aligned

    clock = {"t": 0.0}
    counter = {"mj": 0.0}
    monkeypatch.setattr(counter_aligned.time, "perf_counter", lambda: clock["t"])
    sensor = counter_aligned.CounterAlignedSensor(NoSensor(), read_counter=lambda: counter["mj"], poll_s=0.0,
                                                  max_bracket_s=0.005)

    def step(t: float, mj: float) -> bool:
        clock["t"], counter["mj"] = t, mj
        return sensor.crossed()

    token = sensor.begin()
    sensor.arm()
    assert not step(0.050, 100.0)  # the process was away for 50 ms: this update is not used
    assert step(0.052, 200.0)  # read 2 ms after the previous read: dated at 0.051 s
    clock["t"] = 0.100
    sensor.arm()
    assert not step(0.150, 500.0)  # away again
    assert step(0.152, 600.0)  # dated at 0.151 s
    reading = sensor.end(token)
    assert reading.method == "energy-counter-aligned"
    assert reading.energy_mj == 400.0
    assert reading.duration_s == pytest.approx(0.100)
    assert reading.power_w == pytest.approx(4.0)
