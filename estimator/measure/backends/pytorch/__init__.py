"""The PyTorch measuring backend: op table (ops/), whole-graph runner, timing loops, the backend itself."""

from __future__ import annotations

from estimator.measure.backends.pytorch.backend import TorchBackend, TorchSettings
from estimator.measure.backends.pytorch.torch_import import torch_available

__all__ = ["TorchBackend", "TorchSettings", "torch_available"]
