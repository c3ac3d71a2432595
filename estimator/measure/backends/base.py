"""What the collector needs from a measuring backend; ONNX Runtime and PyTorch implement it.

Backends get layer records, or a model that graph reads for them (RunnableModel bytes, GraphRecord).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from estimator.measure.timing import LoopPolicy, time_calls
from graph.loading import ModelSource
from graph.records import Layer

__all__ = ["Backend"]


class Backend:
    """What the collector needs from a backend; OrtBackend and the PyTorch backend implement it."""

    name = "abstract"

    def describe(self) -> dict[str, object]:
        """JSON-able facts recorded with every measurement (versions, settings, device)."""
        raise NotImplementedError

    def layer_runner(self, layer: Layer, opset: int) -> Callable[[], object]:
        """A call that runs one layer record's configuration once."""
        raise NotImplementedError

    def model_runner(self, model: ModelSource, input_shapes: Mapping[str, Sequence[int]]) -> Callable[[], object]:
        """A call that runs a whole model (a path, bytes or ModelProto) with these input shapes."""
        raise NotImplementedError

    def overhead_runner(self) -> Callable[[], object]:
        """A call that does next to no work: what one call costs."""
        raise NotImplementedError

    def time_calls(self, run: Callable[[], object], policy: LoopPolicy) -> tuple[np.ndarray, float]:
        """Per-call seconds after warm-up, and the loop's total seconds."""
        return time_calls(run, policy)
