"""Python's cyclic garbage collector, paused while a graph is read.

Reading a graph of 200,000 nodes creates millions of objects (node views, working nodes, records, rows) that
all stay alive until the read ends. The collector's full passes over them, run each time the heap has grown by
a quarter, cost a fifth of the read (the 200,000-node chain: 13.5 s with them, 10.8 s without). Nothing read
needs collecting before the read ends, and a read leaves no cycle behind (the working graph forgets its journal
once it is read: graph.kernels.working.WorkingGraph.close), so reference counting frees all of it; a batch of
reads and their scoring (estimator.estimate_many) runs paused throughout. Reading and scoring the 55 zoo and
modern models leaves the collector nothing to find.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["collector_paused"]


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic collector for the block (or the decorated call); it resumes only if this paused it, so
    nested and concurrent reads leave it as they found it."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
