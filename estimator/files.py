"""Crash-safe files: an append-only journal of measurements, atomic file replacement, and a device folder's
device.json (read, merged, written); shared by measure and train."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pandas as pd

__all__ = ["DEVICE_FILE", "Journal", "merge_device_file", "read_device_file", "write_atomic", "write_csv_atomic",
           "write_device_file"]

DEVICE_FILE = "device.json"  # in a training-data folder: how, where and with what its data was measured


def write_atomic(path: Path, text: str) -> None:
    """Write a file so that readers see the old or the new content, never a half-written one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)  # mkstemp creates 0600; these are shared data files
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_csv_atomic(path: Path, frame: pd.DataFrame) -> None:
    write_atomic(path, frame.to_csv(index=False, lineterminator="\n"))


def read_device_file(folder: Path) -> dict[str, object] | None:
    """The device.json of a training-data folder, parsed; None when the folder has none."""
    path = folder / DEVICE_FILE
    return json.loads(path.read_text()) if path.exists() else None


def write_device_file(folder: Path, document: dict[str, object]) -> None:
    """Replace the folder's device.json with `document` (atomically)."""
    write_atomic(folder / DEVICE_FILE, json.dumps(document, indent=2, default=str) + "\n")


def merge_device_file(folder: Path, document: dict[str, object]) -> None:
    """Write `document`'s keys over the folder's device.json: keys that other tools wrote there (e.g.
    gpu_collection_runs) are kept, in their place."""
    write_device_file(folder, {**(read_device_file(folder) or {}), **document})


class Journal:
    """One JSON object per line, appended and fsynced as each measurement finishes.

    On reopening, a last line cut short by an interruption is ignored, so a resumed run
    re-measures at most the one configuration that was in flight.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, dict[str, object]] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue
                self.entries[str(entry["key"])] = entry
            with path.open("rb+") as stream:
                size = stream.seek(0, os.SEEK_END)
                if size:
                    stream.seek(size - 1)
                    if stream.read(1) != b"\n":
                        stream.write(b"\n")  # the previous run was cut mid-line

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def get(self, key: str) -> dict[str, object] | None:
        return self.entries.get(key)

    def append(self, entry: dict[str, object]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as stream:
            stream.write(json.dumps(entry, sort_keys=True) + "\n")
            stream.flush()
            os.fsync(stream.fileno())
        self.entries[str(entry["key"])] = entry
