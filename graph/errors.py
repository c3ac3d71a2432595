"""The project's error hierarchy: every failure a user can cause is one of these."""

from __future__ import annotations

__all__ = ["EstimatorError", "GraphError", "ModelLoadError", "NodeError", "ShapeError"]


class EstimatorError(Exception):
    """Base of every error this project raises on purpose; the CLI turns it into exit code 2."""


class GraphError(EstimatorError):
    """A model could not be read into layer records."""


class ModelLoadError(GraphError):
    """The file or bytes are not a usable ONNX model (missing, truncated, garbage, empty)."""


class ShapeError(GraphError):
    """Input shapes are missing or inconsistent (e.g. a symbolic dimension nobody fixed)."""


class NodeError(GraphError):
    """One node's attributes or shapes are inconsistent (named in the message)."""
