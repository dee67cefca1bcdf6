"""Logistic regression on the raw features: the no-network, no-device baseline."""

from __future__ import annotations

from typing import Any

import numpy as np

from physical.methods.base import Method


class LogisticRegressionMethod(Method):
    """Multinomial logistic regression (scikit-learn, L2, C=1, on standardised features) fitted once in
    :meth:`setup`."""

    uses_device = False
    iterative = False

    def __init__(self, cfg: Any, n_features: int, n_classes: int, phys: Any = None) -> None:
        super().__init__(cfg, n_features, n_classes, None)
        self.model: Any = None

    def setup(self, x_train: np.ndarray, y_train: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
        """Fit on the whole training set (deterministic: lbfgs)."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):  # tiny problem: extra BLAS threads only fight over the cores
            self.model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(x_train, y_train)
        return {"logreg_iterations": int(self.model[-1].n_iter_.max())}

    def train_batch(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> dict[str, float]:
        """Nothing: the fit happens in :meth:`setup`."""
        return {}

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Most probable class per row."""
        return self.model.predict(x)

    def state_dict(self) -> dict[str, Any]:
        """The fitted scikit-learn model."""
        return {"model": self.model}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the fitted model."""
        self.model = state["model"]
