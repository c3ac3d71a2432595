"""The torch op table: importing this package registers every builder (see registry.py)."""

from __future__ import annotations

from estimator.measure.backends.pytorch.ops import elementwise, linear, movement, normalization  # noqa: F401
from estimator.measure.backends.pytorch.ops.registry import Fn, Spec, build, supported_ops

__all__ = ["Fn", "Spec", "build", "supported_ops"]
