"""Where this user's own profiles and calibration data live (platformdirs; ONNX_COST_ESTIMATOR_HOME overrides)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["HOME_VARIABLE", "user_data_dir", "user_profile_dir", "user_training_dir"]

HOME_VARIABLE = "ONNX_COST_ESTIMATOR_HOME"


def user_data_dir() -> Path:
    """The user's data folder for this tool (e.g. ~/.local/share/onnx-cost-estimator on Linux)."""
    override = os.environ.get(HOME_VARIABLE)
    if override:
        return Path(override)
    from platformdirs import user_data_dir as platform_dir

    return Path(platform_dir("onnx-cost-estimator", appauthor=False))


def user_profile_dir() -> Path:
    """Profiles made on this machine by estimate-calibrate."""
    return user_data_dir() / "profiles"


def user_training_dir() -> Path:
    """What estimate-calibrate measured, kept so a rerun resumes."""
    return user_data_dir() / "training_data"
