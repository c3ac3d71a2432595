"""torch is optional: imported on first use, with an error that says how to install it."""

from __future__ import annotations

from typing import Any

from estimator.errors import MeasureError

__all__ = ["INSTALL_HINT", "load_torch", "nn_functional", "torch_available"]

INSTALL_HINT = "pip install torch (or the project's 'zoo' extra: pip install -e '.[zoo]')"


def torch_available() -> bool:
    """Whether torch can be imported here."""
    try:
        load_torch()
    except MeasureError:
        return False
    return True


def load_torch() -> Any:
    """The torch module; MeasureError when it is not installed."""
    try:
        import torch
    except ImportError as error:
        raise MeasureError(f"the PyTorch backend needs torch, which is not installed ({error}); "
                           f"{INSTALL_HINT}") from None
    return torch


def nn_functional() -> Any:
    """torch.nn.functional."""
    return load_torch().nn.functional
