"""Supervised adaptation for viewport prediction: the past head orientations become one token each,
the backbone reads them causally, and the trajectory head turns the last hidden state into the
whole future trajectory in one pass. The loss is the mean absolute angular error in degrees (roll
and yaw wrap around), the metric the task is scored by."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from agents.netllm.backbone import Backbone, band_mask
from agents.netllm.encoders import ViewportEncoder, wrap_unit
from agents.netllm.heads import TrajectoryHead
from agents.netllm.pool import ExperiencePool
from agents.netllm.training import NetLLMTrainConfig, fit
from hwsim.errors import DataError, ShapeError


class TrajectoryModel(nn.Module):
    """Backbone + viewport encoder + trajectory head: ``(B, history, 3) -> (B, future, 3)``, both in
    normalised units (angle / ``scale_deg``)."""

    def __init__(self, backbone: Backbone, future: int, scale_deg: tuple[float, float, float] = (180.0, 90.0, 180.0),
                 periodic: tuple[bool, bool, bool] = (True, False, True), feature_dim: int = 128) -> None:
        super().__init__()
        d = backbone.hidden_size
        self.backbone = backbone
        self.encoder = ViewportEncoder(d, periodic, feature_dim)
        self.norm = nn.LayerNorm(d)
        self.head = TrajectoryHead(d, future, periodic)
        self.future = int(future)
        self.register_buffer("scale_deg", torch.tensor(scale_deg, dtype=torch.float32), persistent=False)
        self.register_buffer("periodic", torch.tensor(periodic), persistent=False)

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        """Predicted future orientations (``history`` may also be the environment's flat ``(B, history x 3)``)."""
        if history.ndim == 2 and history.shape[-1] % 3 == 0:
            history = history.reshape(history.shape[0], -1, 3)
        x = self.norm(self.encoder(history))
        b, t = x.shape[:2]
        pos = torch.arange(t, device=x.device)
        hidden, _ = self.backbone(x, band_mask(pos, pos, pos, pos, t, x.dtype), pos[None].expand(b, -1))
        return self.head(hidden[:, -1], history[:, -1])

    def error_deg(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Absolute angular error in degrees per element (periodic angles wrap around)."""
        return wrap_unit(pred - target, self.periodic).abs() * self.scale_deg

    @torch.no_grad()
    def predict(self, history: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Predictions for a batch of normalised histories ``(n, history, 3)`` as a numpy array."""
        device = next(self.head.parameters()).device
        out = [self(torch.as_tensor(np.asarray(history[i:i + batch_size], dtype=np.float32), device=device)).cpu()
               for i in range(0, len(history), batch_size)]
        return torch.cat(out).numpy()


def window_loss(model: TrajectoryModel, pool: ExperiencePool, batch_size: int,
                device: str) -> Callable[[np.random.Generator], tuple[torch.Tensor, dict[str, float]]]:
    """A loss function for :func:`agents.netllm.training.fit`: mean angular error in degrees on a
    random batch of the pool's (observation, target) pairs."""
    if pool.targets is None:
        raise DataError("supervised training needs a pool with targets; collect it for the 'vp' task")
    obs, targets = np.asarray(pool.observations, dtype=np.float32), np.asarray(pool.targets, dtype=np.float32)
    if obs.ndim == 2 and obs.shape[1] % 3 == 0:  # the environment's flat (history x 3) observations
        obs = obs.reshape(len(obs), -1, 3)
    if obs.ndim != 3 or targets.shape[1:] != (model.future, 3):
        raise ShapeError(f"viewport pool must hold histories (n, h, 3) and targets (n, {model.future}, 3); "
                         f"got {obs.shape} and {targets.shape}")

    def loss_fn(rng: np.random.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        idx = rng.integers(len(obs), size=batch_size)
        pred = model(torch.as_tensor(obs[idx], device=device))
        loss = model.error_deg(pred, torch.as_tensor(targets[idx], device=device)).mean()
        return loss, {}

    return loss_fn


def train_supervised(model: TrajectoryModel, pool: ExperiencePool, config: NetLLMTrainConfig, device: str = "cpu",
                     **fit_kwargs: Any) -> dict[str, Any]:
    """Train ``model`` on the pool's windows; ``fit_kwargs`` go to :func:`agents.netllm.training.fit`."""
    result = fit(model, window_loss(model, pool, config.batch_size, device), config, desc="netllm supervised",
                 **fit_kwargs)
    result["windows"] = len(pool)
    return result
