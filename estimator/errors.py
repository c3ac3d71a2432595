"""The estimator's errors: every failure a user can cause is an EstimatorError or a graph error.

EstimatorError is the root of the estimator's own errors. graph/ stands alone (it must not import
estimator), so its root, graph.GraphError, is not a subclass of EstimatorError; PROJECT_ERRORS
names both, and the one command handler (estimator.commands.run_command) maps either to exit
code 2 with a one-line message. Catch PROJECT_ERRORS to catch everything the project raises on
purpose.
"""

from __future__ import annotations

import re

from graph.errors import GraphError

__all__ = [
    "CONTROLS",
    "PROJECT_ERRORS",
    "EstimatorError",
    "MachineBusyError",
    "MeasureError",
    "ProfileError",
    "SensorError",
    "TrainingDataError",
    "UsageError",
    "printable",
    "printable_line",
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


class MachineBusyError(MeasureError):
    """Other work ran beside a short calibration, so its timings would be too slow: nothing was stored."""


class SensorError(MeasureError):
    """A power sensor is unknown, absent or returned unreadable values."""


PROJECT_ERRORS: tuple[type[Exception], ...] = (EstimatorError, GraphError)



# C0 and C1 controls and DEL (terminal escape sequences, newlines), and the Unicode controls that
# reorder or hide text (bidi overrides and isolates, zero-width marks, line and paragraph separators).
CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
_SURROGATES = re.compile("[\ud800-\udfff]")


def printable(text: object) -> str:
    """`text` with every control character replaced by a space and lone surrogates (undecodable bytes) escaped.

    Everything printed to a terminal passes through here (see estimator.predict.render.escape), so
    a hostile name cannot move the cursor, clear the screen, forge lines or reorder text.
    """
    value = str(text)
    if _SURROGATES.search(value):
        value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return CONTROLS.sub(" ", value)


def printable_line(text: object, max_chars: int = 2000) -> str:
    """`text` as one printable line (see `printable`): how every error message is shown."""
    value = re.sub(" {2,}", " ", printable(text)).strip()
    return value if len(value) <= max_chars else value[: max_chars - 1] + "…"
