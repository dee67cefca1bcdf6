"""A digital MLP trained by backprop (``mlp``): the nonlinear digital peer of every physical network.

``x -> [Linear -> ReLU] x len(hidden) -> Linear -> classes`` with hidden widths ``mlp_hidden``
(``"256,256"``: the usual 2x256 peer; :func:`physical.peers.matched_hidden` picks the width of a
peer with as many digital parameters as a physical network). Softmax cross-entropy, Adam at
``bp_lr`` on batches of ``bp_batch_size``, the learning-rate schedule ``lr_schedule``; the trainer's
validation split and early stopping apply to it exactly as to the physical methods. No device.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hwsim.errors import ConfigError
from physical.methods.base import Method, apply_lr_schedule, seeded


def parse_hidden(text: str) -> tuple[int, ...]:
    """Hidden widths from ``"256,256"``; :class:`ConfigError` unless they are positive integers."""
    try:
        widths = tuple(int(v) for v in str(text).split(",") if v.strip())
    except ValueError:
        widths = ()
    if not widths or min(widths) < 1:
        raise ConfigError(f"mlp_hidden must be comma-separated positive widths such as '256,256', got {text!r}")
    return widths


class DigitalMLP(Method):
    """A ReLU MLP on the raw features, end to end by backprop."""

    uses_device = False
    label_slots = False

    def __init__(self, cfg: Any, n_features: int, n_classes: int, phys: Any = None) -> None:
        super().__init__(cfg, n_features, n_classes, None)
        layers: list[nn.Module] = []
        dim = n_features
        with seeded(cfg.seed):
            for w in parse_hidden(cfg.mlp_hidden):
                layers += [nn.Linear(dim, w), nn.ReLU()]
                dim = w
            self.net = nn.Sequential(*layers, nn.Linear(dim, n_classes))
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.bp_lr)
        self.steps = 0
        self.total_steps = 0

    @property
    def batch_size(self) -> int:
        """Backprop batches of ``bp_batch_size``."""
        return self.cfg.bp_batch_size

    def setup(self, x_train: np.ndarray, y_train: np.ndarray, rng: np.random.Generator,
              x_val: np.ndarray | None = None, y_val: np.ndarray | None = None) -> dict[str, Any]:
        """Fix the length of the learning-rate schedule."""
        self.total_steps = self.cfg.epochs * math.ceil(len(y_train) / (self.batch_size or len(y_train)))
        return {}

    def train_batch(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> dict[str, float]:
        """One Adam step on the cross-entropy of a batch."""
        apply_lr_schedule(self.opt, self.cfg.lr_schedule, self.cfg.bp_lr, self.steps, self.total_steps)
        loss = F.cross_entropy(self.net(torch.from_numpy(np.asarray(x, np.float32))),
                               torch.from_numpy(np.asarray(y, np.int64)))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.steps += 1
        return {"loss": loss.item()}

    @torch.no_grad()
    def predict(self, x: np.ndarray) -> np.ndarray:
        """Most probable class per row."""
        return self.net(torch.from_numpy(np.asarray(x, np.float32))).argmax(dim=1).numpy()

    def modules(self) -> list[nn.Module]:
        """The network."""
        return [self.net]

    def state_dict(self) -> dict[str, Any]:
        """Weights, optimiser state and the schedule position."""
        return {"net": self.net.state_dict(), "opt": self.opt.state_dict(), "steps": self.steps,
                "total_steps": self.total_steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.net.load_state_dict(state["net"])
        self.opt.load_state_dict(state["opt"])
        self.steps = int(state["steps"])
        self.total_steps = int(state["total_steps"])
