"""Classic viewport predictors: a least-squares line through the history (linear regression), constant
velocity, and the static "keep looking where you look" reference.

Each predicts a batch at once (``predict(history_deg) -> future_deg``) and also acts as a policy of
:class:`agents.envs.viewport.ViewportEnv` (``act(obs, info)`` returns the normalised trajectory).
With ``unwrap=True`` (default) roll and yaw are unwrapped before fitting, so a head turning through
+-180 degrees is extrapolated through it; ``unwrap=False`` fits the raw angles as NetLLM's
baselines do.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.viewport_data import PERIODIC, normalise, wrap_degrees
from hwsim.errors import ShapeError


class TrajectoryPredictor:
    """Base of the predictors: unwrapping, wrapping back, and the policy interface."""

    name = "predictor"

    def __init__(self, future: int = 20, unwrap: bool = True) -> None:
        self.future = int(future)
        self.unwrap = bool(unwrap)

    def reset(self) -> None:
        """The predictors keep no state between episodes."""

    def predict(self, history: np.ndarray) -> np.ndarray:
        """Future orientations ``(n, future, 3)`` in degrees from ``history (n, h, 3)`` in degrees."""
        hist = np.asarray(history, dtype=np.float64)
        if hist.ndim != 3 or hist.shape[-1] != 3 or hist.shape[1] < 2:
            raise ShapeError(f"history must have shape (n, h>=2, 3) of roll, pitch, yaw degrees; got {hist.shape}")
        if self.unwrap:
            hist = hist.copy()
            hist[..., PERIODIC] = np.unwrap(hist[..., PERIODIC], period=360.0, axis=1)
        return wrap_degrees(self._extrapolate(hist))

    def _extrapolate(self, hist: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def act(self, obs: Any, info: dict[str, Any]) -> np.ndarray:
        """The normalised trajectory for the environment, from ``info["history_deg"]``."""
        pred = self.predict(np.asarray(info["history_deg"])[None])[0]
        return normalise(pred).astype(np.float32)


class LinearRegression(TrajectoryPredictor):
    """Fit ``angle = a + b t`` to the history of each angle by least squares and extend the line
    (NetLLM's autoregressive refit on its own predictions gives the same line)."""

    name = "linear"

    def _extrapolate(self, hist: np.ndarray) -> np.ndarray:
        h = hist.shape[1]
        t = np.arange(h, dtype=np.float64)
        tc = t - t.mean()
        slope = np.einsum("t,ntc->nc", tc, hist) / (tc @ tc)
        intercept = hist.mean(axis=1) - slope * t.mean()
        ahead = np.arange(h, h + self.future, dtype=np.float64)
        return intercept[:, None, :] + slope[:, None, :] * ahead[None, :, None]


class ConstantVelocity(TrajectoryPredictor):
    """Keep the mean velocity of the history, ``(last - first) / (h - 1)``, from the last sample."""

    name = "velocity"

    def _extrapolate(self, hist: np.ndarray) -> np.ndarray:
        velocity = (hist[:, -1] - hist[:, 0]) / (hist.shape[1] - 1)
        k = np.arange(1, self.future + 1, dtype=np.float64)
        return hist[:, -1][:, None, :] + velocity[:, None, :] * k[None, :, None]


class Static(TrajectoryPredictor):
    """Predict that the head stays where it was last seen (a reference, not a NetLLM baseline)."""

    name = "static"

    def _extrapolate(self, hist: np.ndarray) -> np.ndarray:
        return np.repeat(hist[:, -1:], self.future, axis=1)


BASELINES = {cls.name: cls for cls in (LinearRegression, ConstantVelocity, Static)}
