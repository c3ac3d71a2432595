"""graph's errors: every failure to read a model into layer records is a GraphError.

graph is the bottom layer and imports nothing from estimator, so GraphError is its own root;
estimator.errors names both roots as the project's errors (PROJECT_ERRORS), and the one
command handler (estimator.commands) turns either into exit code 2.
"""

from __future__ import annotations

__all__ = ["BatchSizeError", "GraphError", "ModelLoadError", "NodeError", "ShapeError"]


class GraphError(Exception):
    """A model could not be read into layer records."""


class ModelLoadError(GraphError):
    """The file or bytes are not a usable ONNX model (missing, truncated, garbage, empty)."""


class ShapeError(GraphError):
    """Input shapes are missing or inconsistent (e.g. a symbolic dimension nobody fixed)."""


class NodeError(GraphError):
    """One node's attributes or shapes are inconsistent (named in the message)."""


class BatchSizeError(ShapeError, ValueError):
    """A batch size that is not a positive int the estimator can represent (also a ValueError, as it always was)."""
