"""Backpropagation baselines on the same blocks as forward-forward: physics-aware training (``pat``,
Wright et al., Nature 2022) and in-silico training (``insilico``).

Network: the same blocks and widths as ``mfff`` (``y_l = W_l [P(h_{l-1}); h_{l-1}] + b_l``, the
overlay slots present but left at zero), plus a linear read-out from the concatenated block outputs
to the classes. Loss: softmax cross-entropy, trained end to end with Adam.

- ``pat``: every forward pass is measured on the device; the backward pass goes through a digital
  twin fitted to device measurements (``P(h) = P_dev(h) + T(h) - stopgrad(T(h))``).
- ``insilico``: forward and backward on the twin only; the trained weights are then evaluated on
  the device.
- With the physical layer off, both are plain backpropagation of the same digital network: the
  ablation of ``pat`` and ``insilico``.

Inference measures ``layers`` device rows (times the chunk count) per sample. The twin's data
collection is done by :meth:`Backprop.setup` (or :meth:`Backprop.refit_twin`), and counts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hwsim.errors import ConfigError
from physical.blocks import PhysicalLayer, build_blocks
from physical.methods.base import Method, no_label_slots, seeded
from physical.methods.twin import fit_twin, twin_from_state, twin_state


class Backprop(Method):
    """End-to-end backpropagation through the blocks; ``train_on`` says where ``P`` comes from in training."""

    train_on = "pat"

    def __init__(self, cfg: Any, n_features: int, n_classes: int, phys: PhysicalLayer | None) -> None:
        super().__init__(cfg, n_features, n_classes, phys)
        self.uses_device = phys is not None
        with seeded(cfg.seed):
            self.blocks = build_blocks(self.in_features, self.width, cfg.layers, phys, cfg.skip)
            self.head = nn.Linear(cfg.layers * self.width, n_classes)
        self.opt = torch.optim.Adam([*self.blocks.parameters(), *self.head.parameters()], lr=cfg.bp_lr)
        self.twin: nn.Module | None = None

    @property
    def batch_size(self) -> int:
        """Backprop takes one optimiser step per batch, on batches of ``bp_batch_size``."""
        return self.cfg.bp_batch_size

    def setup(self, x_train: np.ndarray, y_train: np.ndarray, rng: np.random.Generator,
              x_val: np.ndarray | None = None, y_val: np.ndarray | None = None) -> dict[str, Any]:
        """Fit the digital twin on fresh device measurements (nothing to do with the physical layer off)."""
        if self.phys is None:
            return {}
        return self.refit_twin(x_train, rng)

    def refit_twin(self, x_train: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
        """Measure ``twin_samples`` device rows and fit a new twin; returns its held-out R^2."""
        if self.phys is None:
            return {}
        inputs = no_label_slots(x_train, self.slot_columns)
        self.twin = fit_twin(self.phys, self.cfg.twin_samples, inputs, rng, epochs=self.cfg.twin_epochs,
                             seed=self.cfg.seed)
        test = self.twin.metrics.get("test") or self.twin.metrics.get("val") or {}
        return {"twin_r2": test.get("r2")}

    def _features(self, h: torch.Tensor, source: str) -> torch.Tensor | None:
        if self.phys is None:
            return None
        if source == "device":
            return self.phys.measure(h)
        if self.twin is None:
            raise ConfigError("no digital twin: call setup() before training")
        t = self.phys.through_twin(h, self.twin)
        if source == "twin":
            return t
        return self.phys.measure(h) + (t - t.detach())  # device values forward, twin gradient backward

    def logits(self, x: np.ndarray, source: str) -> torch.Tensor:
        """Class scores for features ``x`` with ``P`` taken from ``device``, ``twin`` or ``pat`` (both)."""
        h = torch.from_numpy(no_label_slots(x, self.slot_columns))
        outs = []
        for block in self.blocks:
            h = block(h, self._features(h, source))
            outs.append(h)
        return self.head(torch.cat(outs, dim=1))

    def train_batch(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> dict[str, float]:
        """One Adam step on the cross-entropy of a batch."""
        loss = F.cross_entropy(self.logits(x, self.train_on), torch.from_numpy(np.asarray(y, np.int64)))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {"loss": loss.item()}

    @torch.no_grad()
    def predict(self, x: np.ndarray, source: str = "device") -> np.ndarray:
        """Predicted labels with ``P`` measured on the device (or, for diagnosis, from the twin)."""
        return self.logits(x, source).argmax(dim=1).numpy()

    def modules(self) -> list[nn.Module]:
        """The blocks and the read-out."""
        return [self.blocks, self.head]

    def measurements_per_prediction(self) -> int:
        """``layers`` device rows (times chunks and passes) per sample."""
        return self.rows_per_pass(len(self.blocks))

    def state_dict(self) -> dict[str, Any]:
        """Weights, optimiser state and the twin."""
        return {"blocks": self.blocks.state_dict(), "head": self.head.state_dict(), "opt": self.opt.state_dict(),
                "twin": twin_state(self.twin) if self.twin is not None else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.blocks.load_state_dict(state["blocks"])
        self.head.load_state_dict(state["head"])
        self.opt.load_state_dict(state["opt"])
        self.twin = twin_from_state(state["twin"]) if state.get("twin") else None


class PhysicsAware(Backprop):
    """``pat``: forward on the device, backward through the digital twin."""

    train_on = "pat"


class InSilico(Backprop):
    """``insilico``: train on the twin alone, evaluate on the device."""

    train_on = "twin"
