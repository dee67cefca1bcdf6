"""Model-free forward-forward training (Momeni et al., Science 2023, "physical local learning").

Each block is ``y_l = W_l [P(h_{l-1}); h_{l-1}] + b_l`` (``skip=False``: ``W_l P(h_{l-1}) + b_l``).
Positive data carries the true label in the
overlay slots, negative data a uniformly drawn wrong label. Greedily, layer by layer on each batch,
``P`` is measured once on positive and negative inputs together, then ``inner_steps`` Adam steps
lower ``mean softplus(-alpha (g_pos - g_neg))`` for that layer alone, and the detached outputs go on
to the next layer. Measurements are constants, so no Jacobian of ``P`` is ever needed.

Inference: for every candidate label, the goodness summed over all layers; the argmax wins. That
costs ``n_classes * layers`` device rows (times chunks and passes) per sample.
With ``phys=None`` this is the ``digital`` ablation: the same network and training, ``P`` switched off.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from hwsim.errors import ConfigError
from physical.blocks import PhysicalLayer, build_blocks
from physical.goodness import ff_loss, goodness_fn, pass_on, unit_vectors
from physical.methods.base import Method, seeded
from physical.overlay import overlay, wrong_labels


class ForwardForward(Method):
    """Greedy layer-local forward-forward training of digital weights on measured physical features."""

    def __init__(self, cfg: Any, n_features: int, n_classes: int, phys: PhysicalLayer | None) -> None:
        super().__init__(cfg, n_features, n_classes, phys)
        self.uses_device = phys is not None
        if self.n_slots < n_classes:
            raise ConfigError(f"overlay_slots={self.n_slots} cannot hold {n_classes} labels; use at least {n_classes}")
        with seeded(cfg.seed):
            self.blocks = build_blocks(self.in_features, self.width, cfg.layers, phys, cfg.skip)
        self.xi = unit_vectors(cfg.layers, self.width, torch.Generator().manual_seed(cfg.seed + 7919))
        self.goodness = goodness_fn(cfg.goodness)
        self.opts = [torch.optim.Adam(b.parameters(), lr=cfg.lr) for b in self.blocks]

    def _features(self, h: torch.Tensor) -> torch.Tensor | None:
        return self.phys.measure(h) if self.phys is not None else None

    def train_batch(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> dict[str, float]:
        """Greedy layer-by-layer update on one batch; returns the mean inner loss of each layer."""
        cfg = self.cfg
        neg = wrong_labels(y, self.n_classes, rng)
        n = len(y)
        h = torch.from_numpy(np.concatenate([overlay(x, y, self.n_slots, cfg.overlay, self.label_pixels),
                                             overlay(x, neg, self.n_slots, cfg.overlay, self.label_pixels)]))
        out: dict[str, float] = {}
        for layer, (block, opt) in enumerate(zip(self.blocks, self.opts)):
            p = self._features(h)  # one measurement of positive and negative data together
            total = 0.0
            for _ in range(cfg.inner_steps):
                g = self.goodness(block(h, p), self.xi[layer])
                loss = ff_loss(g[:n], g[n:], cfg.alpha)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.item()
            out[f"loss{layer}"] = total / max(1, cfg.inner_steps)
            with torch.no_grad():
                h = pass_on(block(h, p), cfg.goodness)
        out["loss"] = float(np.mean([out[f"loss{i}"] for i in range(len(self.blocks))]))
        return out

    @torch.no_grad()
    def scores(self, x: np.ndarray) -> np.ndarray:
        """Goodness summed over layers for every candidate label: ``(N, n_classes)``."""
        n = len(x)
        h = torch.from_numpy(np.concatenate([overlay(x, c, self.n_slots, self.cfg.overlay, self.label_pixels)
                                             for c in range(self.n_classes)]))
        total = torch.zeros(h.shape[0])
        for layer, block in enumerate(self.blocks):
            y = block(h, self._features(h))
            total += self.goodness(y, self.xi[layer])
            h = pass_on(y, self.cfg.goodness)
        return total.reshape(self.n_classes, n).T.numpy()

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The label whose overlay collects the most goodness over all layers."""
        return self.scores(x).argmax(axis=1)

    def modules(self) -> list[torch.nn.Module]:
        """The blocks."""
        return [self.blocks]

    def measurements_per_prediction(self) -> int:
        """``n_classes x layers`` device rows (times the chunks per row) per sample."""
        return self.n_classes * self.rows_per_pass(len(self.blocks))

    def state_dict(self) -> dict[str, Any]:
        """Weights, fixed goodness vectors and optimiser states."""
        return {"blocks": self.blocks.state_dict(), "xi": self.xi.clone(),
                "opts": [o.state_dict() for o in self.opts]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.blocks.load_state_dict(state["blocks"])
        self.xi = state["xi"].clone()
        for o, s in zip(self.opts, state["opts"]):
            o.load_state_dict(s)
