"""The busy-machine guard of a short calibration: other processes' CPU time is seen, and a busy run stores nothing."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from estimator.calibrate import MAX_OTHER_CORES, refuse_if_busy
from estimator.errors import MachineBusyError
from estimator.measure.load import LoadMeter, LoadReading

pytestmark = pytest.mark.skipif(not Path("/proc/stat").exists(), reason="reads Linux's /proc/stat")


def test_another_process_burning_a_core_is_seen_and_our_own_work_is_not():
    meter = LoadMeter()
    # A grandchild (the shell exits at once) is not our child: its CPU time is another process's, as a neighbour's.
    subprocess.run(["sh", "-c", f"{sys.executable} -c 'import time\nend = time.time() + 1.5\nwhile time.time() < end: pass' &"],
                   check=True)
    end = time.monotonic() + 1.5
    while time.monotonic() < end:  # our own busy loop on the other core counts as ours
        pass
    time.sleep(0.3)
    reading = meter.read()
    assert reading is not None and reading.wall_s >= 1.5
    assert reading.other_cores > 0.5  # about one core; our own loop is not in it


def _calibration_folder(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    (data / "journal.jsonl").write_text("{}\n")
    return data


def test_a_quiet_calibration_passes(tmp_path):
    data = _calibration_folder(tmp_path)
    refuse_if_busy(data, LoadReading(60.0, 0.05, 0.0), threads=2)
    assert (data / "journal.jsonl").exists()


def test_a_busy_calibration_is_refused_and_its_timings_dropped(tmp_path):
    data = _calibration_folder(tmp_path)
    with pytest.raises(MachineBusyError, match="no profile stored") as raised:
        refuse_if_busy(data, LoadReading(60.0, MAX_OTHER_CORES + 0.5, 0.2), threads=2)
    message = str(raised.value)
    assert "other processes used 0.80 CPU cores on average, 0.20 of them taken by the hypervisor" in message
    assert "\n" not in message
    assert not data.exists()  # a rerun starts afresh instead of resuming from slow timings
