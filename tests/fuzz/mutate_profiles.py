"""Seeded mutations of a profile folder: its manifest (values, types, raw bytes), its file names (paths out
of the folder, symlinks, FIFOs, folders, swaps) and its CatBoost files' bytes.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

__all__ = ["PROFILE_MUTATIONS", "build_profile_mutant"]

HOSTILE_VALUES = (None, [], {}, "", "x", -1, 0, 1, 1e308, -1e308, 5e-324, True, [1, 2], {"a": 1}, [[[]]],
                  float("nan"), float("inf"), "\ud800", "\x1b[2J<script>x</script>\n|=cmd", 10**30, [0.0, 1e308],
                  ["a", "b"], "1")
HOSTILE_FILE_NAMES = ("../../../../etc/passwd", "/etc/shadow", "/dev/zero", "..", ".", "", "sub/../../x.cbm",
                      "a\0b", "x" * 5000, "missing.cbm", "C:\\Windows\\x.cbm", "profile.json", "evaluation.md", 5, None,
                      ["a.cbm"])


def build_profile_mutant(base: Path, target: Path, outside: Path, rng: random.Random) -> str:
    """A mutant of the profile folder `base` at `target` (`outside`: a scratch folder beside it); returns what was done."""
    target.mkdir(parents=True)
    for path in base.iterdir():
        os.link(path, target / path.name)  # hard links: mutated files are replaced, never written in place
    manifest = json.loads((base / "profile.json").read_text(encoding="utf-8"))
    name = rng.choice(list(PROFILE_MUTATIONS))
    detail = PROFILE_MUTATIONS[name](target, outside, manifest, rng)
    return f"{name}: {detail}"


def _write_manifest(target: Path, manifest) -> None:
    _replace(target / "profile.json", json.dumps(manifest, indent=1).encode("utf-8"))


def _replace(path: Path, data: bytes) -> None:
    if path.is_symlink() or path.exists():
        path.unlink()
    path.write_bytes(data)


def _random_path(document, rng: random.Random) -> list:
    """A random path of keys/indices into a JSON document."""
    path: list = []
    node = document
    while isinstance(node, (dict, list)) and node and rng.random() < 0.75:
        key = rng.choice(list(node)) if isinstance(node, dict) else rng.randrange(len(node))
        path.append(key)
        node = node[key]
    return path


def json_value(target, outside, manifest, rng) -> str:
    path = _random_path(manifest, rng)
    if not path:
        path = [rng.choice(list(manifest))]
    parent = manifest
    for key in path[:-1]:
        parent = parent[key]
    action = rng.choice(("replace", "replace", "delete", "add"))
    if action == "delete" and isinstance(parent, dict):
        del parent[path[-1]]
    elif action == "add" and isinstance(parent, dict):
        parent[rng.choice(("unknown_key", "runtime", "power", "numeric", "method"))] = rng.choice(HOSTILE_VALUES)
    else:
        parent[path[-1]] = rng.choice(HOSTILE_VALUES)
    _write_manifest(target, manifest)
    return f"{action} {path}"


def section(target, outside, manifest, rng) -> str:
    """Targeted damage to the keys the estimator reads."""
    layer = rng.choice(("convolutional", "pooling", "dense", "other", "transformer"))
    choice = rng.choice(("composition", "kernel_composition", "intervals", "ranges", "categories", "features",
                         "version", "unit", "fusion_rules", "description", "profile_id"))
    if choice == "composition":
        manifest["composition"] = rng.choice(({"runtime_scale": [1, 2]}, {"runtime_scale": {"conv": -1}},
                                              {"per_layer_overhead_ms": float("nan")}, {"runtime_scale": {layer: 1e300}},
                                              "sum", []))
    elif choice == "kernel_composition":
        manifest["composition"] = rng.choice(({"method": "kernels"}, {"method": "kernels", "run_overhead_ms": -1,
                                                                      "profiler_overhead_ms": 0},
                                              {"method": "kernels", "run_overhead_ms": "1", "profiler_overhead_ms": 0},
                                              {"method": "kernels", "run_overhead_ms": 0.1, "profiler_overhead_ms": 0.0}))
    elif choice == "intervals":
        manifest.setdefault("intervals", {})[layer] = {"runtime_log_ratio": rng.choice(
            ([-1e308, 1e308], [5, -5], ["a", "b"], [1], 3, [800.0, 900.0], [-0.1, 0.1]))}
    elif choice == "ranges":
        manifest.setdefault("feature_ranges", {})[layer] = {"numeric": {rng.choice(("macs", "bogus", "batch_size")):
                                                                        rng.choice(([1, 0], [0, 1], "x", [None, 2]))}}
    elif choice == "categories":
        manifest.setdefault("feature_ranges", {})[layer] = {"categories": {"op_type": rng.choice((["Relu"], [1], "x"))}}
    elif choice == "features":
        manifest.setdefault("features", {})[layer] = rng.choice((["batch_size", "no_such_column"], "macs", []))
    elif choice == "version":
        manifest["format_version"] = rng.choice((2, "1", None, 1.0, True, 0))
    elif choice == "unit":
        manifest["unit"] = rng.choice(("kernels", "layers", "bogus", 3))
    elif choice == "fusion_rules":
        manifest["fusion_rules"] = rng.choice(({"nchwc_block": 99}, {"bogus": True}, {"conv_activations": "Relu"},
                                               {"name": "x", "fold_constants": True}, []))
    else:
        manifest[choice] = rng.choice(("\x1b[2J\x1b[31mred\nforged line", "<img src=x onerror=alert(1)>",
                                       "=cmd|' /C calc'!A0", "| a | b |", "\ud800", "x" * 10_000, 42))
    _write_manifest(target, manifest)
    return f"{choice} {layer}"


def file_name(target, outside, manifest, rng) -> str:
    layer = rng.choice(list(manifest["model_files"]))
    target_key = rng.choice(("runtime", "power"))
    manifest["model_files"][layer][target_key] = rng.choice(HOSTILE_FILE_NAMES)
    _write_manifest(target, manifest)
    return f"{layer}.{target_key}"


def special_file(target, outside, manifest, rng) -> str:
    """A model file (or profile.json) that is a symlink out, a symlink in, a FIFO or a folder."""
    kind = rng.choice(("symlink_out", "symlink_abs_in", "symlink_in", "fifo", "folder", "manifest_fifo",
                       "manifest_symlink_out", "manifest_folder"))
    layer = rng.choice(list(manifest["model_files"]))
    entry = manifest["model_files"][layer]
    if kind == "symlink_out":
        outside.mkdir(parents=True, exist_ok=True)
        real = outside / "stolen.cbm"
        real.write_bytes((target / entry["runtime"]).read_bytes())
        (target / "link.cbm").symlink_to(rng.choice((real, Path("/etc/passwd"), Path("../stolen.cbm"))))
        entry["runtime"] = "link.cbm"
    elif kind == "symlink_abs_in":
        (target / "link.cbm").symlink_to((target / entry["runtime"]).resolve())
        entry["runtime"] = "link.cbm"
    elif kind == "symlink_in":
        (target / "link.cbm").symlink_to(entry["runtime"])
        entry["runtime"] = "link.cbm"
    elif kind == "fifo":
        os.mkfifo(target / "fifo.cbm")
        entry["runtime"] = "fifo.cbm"
    elif kind == "folder":
        (target / "folder.cbm").mkdir()
        entry["runtime"] = "folder.cbm"
    if kind.startswith("manifest_"):
        (target / "profile.json").unlink()
        if kind == "manifest_fifo":
            os.mkfifo(target / "profile.json")
        elif kind == "manifest_folder":
            (target / "profile.json").mkdir()
        else:
            outside.mkdir(parents=True, exist_ok=True)
            (outside / "profile.json").write_text(json.dumps(manifest), encoding="utf-8")
            (target / "profile.json").symlink_to(outside / "profile.json")
        return kind
    _write_manifest(target, manifest)
    return kind


def swap(target, outside, manifest, rng) -> str:
    files = manifest["model_files"]
    first, second = rng.sample(list(files), 2)
    files[first]["runtime"], files[second]["runtime"] = files[second]["runtime"], files[first]["runtime"]
    if rng.random() < 0.5 and files[first].get("power"):
        files[first]["runtime"], files[first]["power"] = files[first]["power"], files[first]["runtime"]
    _write_manifest(target, manifest)
    return f"{first}<->{second}"


def model_bytes(target, outside, manifest, rng) -> str:
    """A CatBoost file damaged: bits flipped, cut short, emptied, replaced by text or noise."""
    layer = rng.choice(list(manifest["model_files"]))
    path = target / manifest["model_files"][layer]["runtime"]
    data = bytearray(path.read_bytes())
    kind = rng.choice(("flip", "flip", "flips", "truncate", "empty", "text", "noise", "header"))
    if kind == "flip":
        position = rng.randrange(len(data))
        data[position] ^= 1 << rng.randrange(8)
    elif kind == "flips":
        for _ in range(rng.choice((2, 16, 256))):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif kind == "truncate":
        data = data[: rng.randrange(len(data))]
    elif kind == "empty":
        data = bytearray()
    elif kind == "text":
        data = bytearray(b"this is not a model\n" * 10)
    elif kind == "noise":
        data = bytearray(rng.randbytes(rng.choice((16, 4096))))
    else:
        data[4:8] = rng.choice((b"\xff\xff\xff\x7f", b"\x00\x00\x00\x00", b"\x10\x00\x00\x00"))
    _replace(path, bytes(data))
    return f"{kind} {path.name}"


def manifest_bytes(target, outside, manifest, rng) -> str:
    raw = json.dumps(manifest, indent=1).encode("utf-8")
    kind = rng.choice(("non_utf8", "truncate", "list", "null", "empty", "deep", "huge", "nan_tokens", "long_number",
                       "bom", "flip"))
    data = {
        "non_utf8": raw.replace(b'"description"', b'"descr\xff\xfeption"', 1),
        "truncate": raw[: rng.randrange(len(raw))],
        "list": b"[]",
        "null": b"null",
        "empty": b"",
        "deep": b"[" * 200_000 + b"]" * 200_000,
        "huge": raw[:-2] + b', "padding": "' + b"x" * (5 << 20) + b'"}',
        "nan_tokens": raw.replace(b'"format_version": 1', b'"format_version": NaN', 1),
        "long_number": raw.replace(b'"format_version": 1', b'"format_version": 1' + b"0" * 5000, 1),
        "bom": b"\xef\xbb\xbf" + raw,
        "flip": bytes(b ^ (1 << rng.randrange(8)) if rng.random() < 0.001 else b for b in raw),
    }[kind]
    _replace(target / "profile.json", data)
    return kind


PROFILE_MUTATIONS = {
    "json_value": json_value, "section": section, "file_name": file_name, "special_file": special_file,
    "swap": swap, "model_bytes": model_bytes, "manifest_bytes": manifest_bytes,
}
