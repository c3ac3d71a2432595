"""A device fingerprint: what makes a profile true for a machine (CPU, ISA, runtime and its settings).

Every profile records the fingerprint of the machine it was measured on; `estimate` ranks profiles
by how near theirs is to this machine's (estimator.predict.selection) and says how far the one it uses is.
"""

from __future__ import annotations

import functools
import os
import platform
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

__all__ = ["ISA_FLAGS", "machine_facts", "machine_fingerprint", "ort_default_threads"]

# Instruction-set features that change which kernels a runtime picks (and how fast they run).
ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
             "avx_vnni", "amx_tile", "amx_bf16", "amx_int8", "asimd", "sve")


def machine_fingerprint(intra_op_threads: int, provider: str = "CPUExecutionProvider",
                        optimization_level: str = "all") -> dict[str, object]:
    """This machine, and the runtime settings a profile for it would be measured with."""
    cpu = _cpuinfo()
    flags = set(cpu.get("flags", "").split()) | set(cpu.get("Features", "").split())
    return {
        "cpu_model": cpu.get("model name") or cpu.get("Model") or platform.processor() or platform.machine(),
        "cpu_vendor": cpu.get("vendor_id", ""),
        "cpu_family_model_stepping": "/".join(cpu.get(key, "?") for key in ("cpu family", "model", "stepping")),
        "architecture": platform.machine(),
        "logical_cpus": os.cpu_count(),
        "isa": [flag for flag in ISA_FLAGS if flag in flags],
        "memory_gib": _memory_gib(),
        "onnxruntime": _onnxruntime_version(),
        "provider": provider,
        "optimization_level": optimization_level,
        "intra_op_threads": int(intra_op_threads),
    }


def machine_facts() -> dict[str, object]:
    """CPU model, core count, memory and OS of the measuring machine (device.json's `machine`)."""
    facts: dict[str, object] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "logical_cpus": os.cpu_count(),
    }
    cpu_model = _cpuinfo().get("model name")
    if cpu_model is not None:
        facts["cpu_model"] = cpu_model
    memory_gib = _memory_gib()
    if memory_gib is not None:
        facts["memory_gib"] = memory_gib
    return facts


def ort_default_threads() -> int:
    """ONNX Runtime's own default intra-op thread count here: one per physical core it can use."""
    cores = _physical_cores()
    return max(1, cores or os.cpu_count() or 1)


@functools.lru_cache(maxsize=1)
def _onnxruntime_version() -> str:
    """ONNX Runtime's version, from its installed metadata (read once): every estimate compares it, and importing
    the runtime only to read it cost `estimate` 0.05 s (predict never runs it)."""
    if "onnxruntime" in sys.modules:
        return sys.modules["onnxruntime"].__version__
    for distribution in ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino", "onnxruntime-directml"):
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    import onnxruntime  # a build installed under another name

    return onnxruntime.__version__


def _cpuinfo_blocks() -> Iterator[dict[str, str]]:
    """/proc/cpuinfo, one dict per processor (none where the file does not exist), read lazily."""
    path = Path("/proc/cpuinfo")
    if not path.exists():
        return
    facts: dict[str, str] = {}
    for line in path.read_text(errors="replace").splitlines():
        if not line.strip():
            if facts:
                yield facts
                facts = {}
            continue
        key, _, value = line.partition(":")
        facts.setdefault(key.strip(), value.strip())
    if facts:
        yield facts


def _cpuinfo() -> dict[str, str]:
    """The first processor's block of /proc/cpuinfo: model, vendor, flags (all processors share them)."""
    return next(_cpuinfo_blocks(), {})


def _physical_cores() -> int | None:
    cores = {(block.get("physical id", ""), block["core id"]) for block in _cpuinfo_blocks() if block.get("core id")}
    return len(cores) or None


def _memory_gib() -> float | None:
    path = Path("/proc/meminfo")
    if not path.exists():
        return None
    for line in path.read_text().splitlines():
        if line.startswith("MemTotal"):
            return round(int(line.split()[1]) / 2**20, 1)
    return None
