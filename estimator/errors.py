"""The estimator's errors: every failure a user can cause is an EstimatorError or a graph error.

EstimatorError is the root of the estimator's own errors. graph/ stands alone (it must not import
estimator), so its root, graph.GraphError, is not a subclass of EstimatorError; PROJECT_ERRORS
names both, and the one command handler (estimator.commands.run_command) maps either to exit
code 2 with a one-line message. Catch PROJECT_ERRORS to catch everything the project raises on
purpose.
"""

from __future__ import annotations

from graph.errors import GraphError

__all__ = [
    "PROJECT_ERRORS",
    "EstimatorError",
    "MeasureError",
    "ProfileError",
    "SensorError",
    "TrainingDataError",
    "UsageError",
]


class EstimatorError(Exception):
    """Base of every error the estimator, the trainer and the measurement library raise on purpose."""


class UsageError(EstimatorError):
    """Bad command-line values that argparse cannot check."""


class ProfileError(EstimatorError):
    """A profile is unknown, incomplete or was made by incompatible versions."""


class TrainingDataError(EstimatorError):
    """A training-data folder is missing files or columns."""


class MeasureError(EstimatorError):
    """A layer or model could not be measured on the device."""


class SensorError(MeasureError):
    """A power sensor is unknown, absent or returned unreadable values."""


PROJECT_ERRORS: tuple[type[Exception], ...] = (EstimatorError, GraphError)
