"""Reading Linux sysfs files (powercap, hwmon) into numbers, with errors that say how to fix access."""

from __future__ import annotations

import math
import re
from pathlib import Path

from estimator.errors import SensorError

__all__ = ["natural_key", "read_int", "read_number", "read_sysfs"]


def read_sysfs(path: Path) -> str:
    try:
        return path.read_text().strip()
    except PermissionError as exc:
        raise SensorError(
            f"cannot read {path}: permission denied; run as root or make it readable (sudo chmod a+r {path})"
        ) from exc
    except OSError as exc:
        raise SensorError(f"cannot read {path}: {exc.strerror or exc}") from exc


def read_number(path: Path) -> float:
    text = read_sysfs(path)
    try:
        value = float(text)
    except ValueError:
        raise SensorError(f"{path} holds {text!r}, not a number") from None
    if not math.isfinite(value):
        raise SensorError(f"{path} holds {text!r}, not a finite number")
    return value


def read_int(path: Path) -> int:
    text = read_sysfs(path)
    try:
        return int(text)
    except ValueError:
        raise SensorError(f"{path} holds {text!r}, not an integer") from None


def natural_key(path: Path) -> tuple[object, ...]:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", path.name))
