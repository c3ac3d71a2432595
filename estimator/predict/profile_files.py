"""A profile's files are untrusted input: people download and share profiles.

Every file is named relative to the profile folder and must stay inside it (no absolute paths,
no `..`, no symlink that leads out); it must be a regular file under a size limit, and it is
opened without blocking, so a FIFO or a device cannot hang or flood the estimator. CatBoost
models are read here and handed to CatBoost as bytes (CatBoost never opens a path); a model
file from outside the package is first loaded and scored in a child process, because a
corrupt .cbm can crash CatBoost itself. Every failure is a one-line ProfileError naming the file.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import struct
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path, PurePosixPath, PureWindowsPath

from estimator.errors import ProfileError

__all__ = [
    "MAX_MANIFEST_BYTES",
    "MAX_MODEL_BYTES",
    "PROFILE_ID",
    "check_models_in_child",
    "read_profile_file",
    "resolve_folder",
]

MAX_MANIFEST_BYTES = 4 << 20
MAX_MODEL_BYTES = 256 << 20
PROFILE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # what a shipped profile's id may look like
CHILD_TIMEOUT_S = 120
CHILD_MEMORY_BYTES = 8 << 30
_VERIFIED: set[str] = set()  # sha256 of model files that loaded and scored in a child process

# Runs in the child: read (name, model bytes) frames from stdin; load and score each; say "ok" per model.
_CHILD = r"""
import resource, struct, sys
resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[1]), int(sys.argv[1])))
from catboost import CatBoostRegressor, Pool
stream = sys.stdin.buffer
while True:
    header = stream.read(8)
    if len(header) < 8:
        break
    name_length, size = struct.unpack("<II", header)
    name = stream.read(name_length).decode("utf-8", "replace")
    blob = stream.read(size)
    print("loading", name, flush=True)
    model = CatBoostRegressor()
    try:
        model.load_model(blob=blob)
        columns = len(model.feature_names_ or [])
        categorical = set(model.get_cat_feature_indices())
        rows = [["unknown" if i in categorical else value for i in range(columns)] for value in (0.0, 1.0, 1e6)]
        model.predict(Pool(rows, cat_features=sorted(categorical)))
    except Exception as error:
        text = " ".join(str(error).split())[:200]
        print("invalid", name, text, flush=True)
        continue
    print("ok", name, flush=True)
"""


def resolve_folder(reference: str | os.PathLike, id_folders: Sequence[Path]) -> Path | None:
    """The profile folder `reference` names: a folder with profile.json, or an id found in one of `id_folders`
    (in order); None when it names neither."""
    try:
        path = Path(reference)
        if (path / "profile.json").exists():
            return path
    except (OSError, ValueError):  # an unreadable path, a NUL byte, a name too long
        pass
    if not isinstance(reference, str) or not PROFILE_ID.fullmatch(reference):
        return None
    for folder in id_folders:
        try:
            if (folder / reference / "profile.json").exists():
                return folder / reference
        except OSError:
            continue
    return None


def read_profile_file(folder: Path, name: object, max_bytes: int) -> bytes:
    """The bytes of file `name` inside the profile `folder`, read without blocking; a ProfileError otherwise."""
    where = f"{folder}: file {_shown(name)}"
    if not isinstance(name, str) or not name or "\0" in name:
        raise ProfileError(f"{where}: not a file name; name a file inside the profile folder")
    if PurePosixPath(name).is_absolute() or PureWindowsPath(name).is_absolute() or ".." in re.split(r"[/\\]", name):
        raise ProfileError(f"{where}: must be a path inside the profile folder (no absolute path, no '..')")
    try:
        root = folder.resolve(strict=True)
        target = (root / name).resolve(strict=True)
    except FileNotFoundError:
        raise ProfileError(f"{where} is missing; retrain the profile") from None
    except (OSError, RuntimeError, ValueError) as error:  # RuntimeError: a symlink loop
        raise ProfileError(f"{where}: cannot be resolved ({_reason(error)})") from None
    if not target.is_relative_to(root):
        raise ProfileError(f"{where}: leads outside the profile folder (a symlink?); profiles may only use their own files")
    try:
        descriptor = os.open(target, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as error:
        raise ProfileError(f"{where}: cannot be opened ({_reason(error)})") from None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise ProfileError(f"{where}: is not a regular file (a FIFO, device or folder?); profiles hold files")
        if info.st_size > max_bytes:
            raise ProfileError(f"{where}: {info.st_size} bytes is more than the {max_bytes} allowed; "
                               "is it the right file?")
        chunks, total = [], 0
        while chunk := os.read(descriptor, 1 << 20):
            total += len(chunk)
            if total > max_bytes:
                raise ProfileError(f"{where}: grew past the {max_bytes} bytes allowed while being read")
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as error:
        raise ProfileError(f"{where}: cannot be read ({_reason(error)})") from None
    finally:
        os.close(descriptor)


def check_models_in_child(folder: Path, blobs: dict[str, bytes]) -> None:
    """Load and score each model file in a child process first; a crash, hang or error there is a ProfileError.

    Model files already checked by this process (or its parent, before forking) are not checked again.
    """
    pending = {name: blob for name, blob in blobs.items() if hashlib.sha256(blob).hexdigest() not in _VERIFIED}
    if not pending:
        return
    frames = b"".join(struct.pack("<II", len(name.encode()), len(blob)) + name.encode() + blob
                      for name, blob in pending.items())
    try:
        result = subprocess.run([sys.executable, "-I", "-c", _CHILD, str(CHILD_MEMORY_BYTES)], input=frames,
                                capture_output=True, timeout=CHILD_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise ProfileError(f"{folder}: its CatBoost models took over {CHILD_TIMEOUT_S} s to load; "
                           "the files are corrupt or hostile") from None
    except OSError as error:
        raise ProfileError(f"{folder}: cannot start a process to check its models ({_reason(error)})") from None
    lines = result.stdout.decode("utf-8", "replace").splitlines()
    loaded = [line.split(" ", 1)[1] for line in lines if line.startswith("loading ")]
    checked = {line.split(" ", 2)[1] for line in lines if line.startswith("ok ")}
    for line in lines:
        if line.startswith("invalid "):
            _, name, *reason = line.split(" ", 2)
            raise ProfileError(f"{folder}: file {_shown(name)}: not a CatBoost model ({' '.join(reason)}); "
                               "retrain the profile")
    if result.returncode != 0 or set(pending) - checked:
        culprit = loaded[-1] if loaded else "?"
        how = f"signal {-result.returncode}" if result.returncode < 0 else f"exit {result.returncode}"
        raise ProfileError(f"{folder}: file {_shown(culprit)}: CatBoost crashed loading it ({how}); "
                           "the file is corrupt or hostile; re-download or retrain the profile")
    _VERIFIED.update(hashlib.sha256(blob).hexdigest() for blob in pending.values())


def _shown(name: object) -> str:
    """A file name as the message shows it: plain when it is short and printable, else its repr, cut."""
    if isinstance(name, str) and name.isprintable() and len(name) <= 80:
        return name
    shown = repr(name)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def _reason(error: BaseException) -> str:
    return error.strerror if isinstance(error, OSError) and error.strerror else type(error).__name__
