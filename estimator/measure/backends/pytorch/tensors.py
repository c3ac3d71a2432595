"""Tensors on the backend's device: seeded random inputs and weights, and constants from records."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["TensorFactory", "np_dtype"]


def np_dtype(name: str) -> np.dtype:
    """The numpy dtype of a record's dtype name (float32 for types numpy lacks, e.g. bfloat16: values only)."""
    try:
        return np.dtype(name)
    except TypeError:
        return np.dtype(np.float32)


class TensorFactory:
    """Makes tensors on one device; every float tensor gets the backend's dtype."""

    def __init__(self, torch: Any, device: Any, dtype: Any, seed: int = 0) -> None:
        self.torch = torch
        self.device = device
        self.dtype = dtype
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(seed)

    def random(self, shape: Sequence[int], dtype: str = "float32", low: float = 0.5, high: float = 1.5) -> Any:
        """Uniform floats in [low, high); random booleans; zeros for integer types (indices stay valid)."""
        torch = self.torch
        shape = tuple(int(d) for d in shape)
        kind = np_dtype(dtype).kind
        if kind == "f":
            values = torch.rand(shape, generator=self.generator, device=self.device, dtype=self.dtype)
            return values.mul_(high - low).add_(low)
        if kind == "b":
            return torch.rand(shape, generator=self.generator, device=self.device) > 0.5
        return torch.zeros(shape, dtype=getattr(torch, np_dtype(dtype).name), device=self.device)

    def weight(self, shape: Sequence[int]) -> Any:
        """Symmetric values scaled by fan-in (activations stay finite through deep graphs)."""
        fan_in = max(1, math.prod(shape[1:]))
        bound = math.sqrt(3.0 / fan_in)
        return self.random(shape, low=-bound, high=bound)

    def constant(self, values: Sequence[float] | np.ndarray, shape: Sequence[int], dtype: str) -> Any:
        """Known values (a record's constant input, an initializer with data)."""
        torch = self.torch
        array = np.asarray(values, dtype=np_dtype(dtype)).reshape(shape)
        tensor = torch.from_numpy(np.array(array, copy=True, order="C")).to(self.device)
        return tensor.to(self.dtype) if tensor.is_floating_point() else tensor
