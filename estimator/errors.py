"""Errors raised by the estimator, the trainer and the measurement library."""

from __future__ import annotations

from graph.errors import EstimatorError

__all__ = ["EstimatorError", "MeasureError", "ProfileError", "SensorError", "TrainingDataError"]


class ProfileError(EstimatorError):
    """A profile is unknown, incomplete or was made by incompatible versions."""


class TrainingDataError(EstimatorError):
    """A training-data folder is missing files or columns."""


class MeasureError(EstimatorError):
    """A layer or model could not be measured on the device."""


class SensorError(MeasureError):
    """A power sensor is unknown, absent or returned unreadable values."""
