"""Handing freed heap memory back to the operating system after ONNX's inference of a large graph.

ONNX's whole-graph inference parses its result into a second model as large as the graph and its value_info (on a
chain of 200,000 nodes: 190 MB), which graph/inputs.py frees once it has read the types. glibc's malloc keeps such
freed memory in the process, below the node views made at load, and the working graph and records made afterwards
reuse only part of it: the chain's peak RSS was 884 MB with it kept and 807 MB with it handed back
(scripts/bench.py --hostile-only). malloc_trim hands it back; where the C library has no malloc_trim (macOS,
musl), nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

__all__ = ["LARGE_GRAPH_NODES", "release_freed_memory"]

LARGE_GRAPH_NODES = 20_000  # smaller graphs free too little for the trim to matter


def release_freed_memory() -> None:
    """Return the heap's free pages to the operating system (glibc's malloc_trim), where the C library can."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    except OSError:
        return None
