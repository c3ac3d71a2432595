"""Baselines the profile is judged against: the NeuralPower-style polynomial Lasso, and MACs-proportional.

The NeuralPower-style models are configured as the seed's project configured them: per layer
type and target, the seed's feature columns -> degree-3 polynomial features (conv power: of
log1p(features)) plus special product terms -> scaler -> LassoCV(cv=10, 500 alphas,
max_iter=10000, positive=True). scikit-learn is an evaluation-only dependency.
"""

from __future__ import annotations

import warnings
from typing import ClassVar

import numpy as np
import pandas as pd

from estimator.predict.units import LAYERS
from graph.schema import FEATURE_COLUMNS

__all__ = ["SPECIAL_TERMS", "MacsBaseline", "NeuralPowerBaseline"]

SPECIAL_TERMS: dict[str, list[list[str]]] = {
    "convolutional": [
        ["input_size_0", "input_size_1", "input_size_2", "kernel_0", "kernel_1", "output_size_2"],
        ["batch_size", "input_size_0", "input_size_1", "input_size_2", "kernel_0", "kernel_1", "output_size_2"],
    ],
    "pooling": [
        ["batch_size", "input_size_0", "input_size_1", "input_size_2"],
        ["batch_size", "output_size_0", "output_size_1", "output_size_2"],
        ["batch_size", "input_size_0", "input_size_1", "input_size_2", "kernel_0", "kernel_1"],
    ],
    "dense": [],
}


class NeuralPowerBaseline:
    """One polynomial LassoCV per (layer type, target), fitted on the seed's columns only."""

    def __init__(self, layer_type: str, target: str) -> None:
        self.layer_type = layer_type
        self.target = target

    def _matrix(self, frame: pd.DataFrame) -> np.ndarray:
        from sklearn.preprocessing import PolynomialFeatures

        base = frame[list(FEATURE_COLUMNS[self.layer_type])].to_numpy(float)
        if self.layer_type == "convolutional" and self.target == "power":
            base = np.log1p(base)
        poly = PolynomialFeatures(degree=3, include_bias=False).fit_transform(base)
        special = [frame[columns].to_numpy(float).prod(axis=1) for columns in SPECIAL_TERMS[self.layer_type]]
        return np.column_stack([poly, *special]) if special else poly

    def fit(self, frame: pd.DataFrame, target: np.ndarray) -> NeuralPowerBaseline:
        from sklearn.linear_model import LassoCV
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import RobustScaler, StandardScaler

        robust = self.layer_type == "pooling" and self.target == "power"
        positive = not (self.layer_type == "pooling" and self.target == "runtime")
        scaler = RobustScaler() if robust else StandardScaler()
        lasso = LassoCV(cv=10, alphas=500, max_iter=10000, positive=positive, random_state=0, n_jobs=2)
        self.model_ = make_pipeline(scaler, lasso)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence warnings on ill-conditioned polynomial terms
            self.model_.fit(self._matrix(frame), target)
        return self

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        if not hasattr(self, "model_"):
            raise RuntimeError("NeuralPowerBaseline.predict called before fit")
        return self.model_.predict(self._matrix(frame))


class MacsBaseline:
    """runtime = a * work + b per layer type (work: MACs; pooling: window ops; other: output elements)."""

    _WORK: ClassVar[dict[str, str]] = {
        "convolutional": "macs", "dense": "macs", "pooling": "window_ops", "other": "output_elements",
    }

    def __init__(self, layer_type: str) -> None:
        self.layer_type = layer_type

    def _work(self, frame: pd.DataFrame) -> np.ndarray:
        return LAYERS.featurize(frame, self.layer_type)[self._WORK[self.layer_type]].to_numpy(float)

    def fit(self, frame: pd.DataFrame, target: np.ndarray) -> MacsBaseline:
        design = np.column_stack([self._work(frame), np.ones(len(frame))])
        self.coefficients_, *_ = np.linalg.lstsq(design, np.asarray(target, float), rcond=None)
        return self

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.coefficients_[0] * self._work(frame) + self.coefficients_[1]
