"""Layer-local supervised training on measured physical features (``local``), and the shared loop of
every method that trains each block through its own head (:class:`LayerLocal`).

Network: blocks ``z_l = W_l [N(P(h_{l-1})); h_{l-1}] + b_l`` (``skip=False``: ``W_l N(P(h_{l-1})) + b_l``),
``h_0 = x`` (the features alone, no label slots), ``h_l = z_l``; ``N`` standardises each sample's measured
features (no parameters). Every block has a head that turns ``z_l`` into class scores.

Training, per batch and block by block: ``P(h_{l-1})`` is measured once (a constant: no Jacobian of
``P`` is needed, nothing flows back into the device), then ``inner_steps`` Adam steps lower that block's
local loss in its own ``W_l, b_l`` and head; the detached ``z_l`` goes on to the next block. All blocks
train on every batch (decoupled greedy learning), so each block keeps adapting to what the block
below hands it, and to a device that changes.

Prediction: one pass through the blocks (``layers`` device rows per sample, times chunks and passes);
the class scores of the heads as log-probabilities summed over blocks; argmax.

``local``: the head is linear, the loss the cross-entropy of its softmax (greedy layer-wise /
local-error-signal training: Belilovsky et al., ICML 2019; Nokland & Eidnes, ICML 2019), optionally
mixed with their similarity-matching term ``|| S(z) - S(onehot y) ||^2`` (``S``: the batch's cosine
similarity matrix) with weight ``sim_weight``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from physical.blocks import PhysicalLayer, build_blocks
from physical.methods.base import Method, apply_lr_schedule, seeded


def similarity_matching(z: torch.Tensor, y: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Mean squared difference between the cosine-similarity matrices of ``z`` and of the one-hot labels."""
    zn = F.normalize(z - z.mean(dim=0, keepdim=True), dim=1)
    onehot = F.one_hot(y, n_classes).to(z.dtype)
    return (zn @ zn.T - onehot @ onehot.T).pow(2).mean()


class LayerLocal(Method):
    """Blocks with one head each, every block trained on its own loss from measured features only."""

    label_slots = False

    def __init__(self, cfg: Any, n_features: int, n_classes: int, phys: PhysicalLayer | None) -> None:
        super().__init__(cfg, n_features, n_classes, phys)
        self.uses_device = phys is not None
        with seeded(cfg.seed):
            self.blocks = build_blocks(self.in_features, self.width, cfg.layers, phys, cfg.skip, normalise=True)
            self.heads = nn.ModuleList([self.make_head() for _ in range(cfg.layers)])
        self.opts = [torch.optim.Adam([*b.parameters(), *h.parameters()], lr=cfg.lr)
                     for b, h in zip(self.blocks, self.heads)]
        self.steps = 0
        self.total_steps = 0

    def make_head(self) -> nn.Module:
        """The head of one block: block output ``(B, width)`` -> class scores ``(B, classes)``."""
        raise NotImplementedError

    def local_loss(self, layer: int, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The loss block ``layer`` lowers on its output ``z`` for labels ``y``."""
        raise NotImplementedError

    def setup(self, x_train: np.ndarray, y_train: np.ndarray, rng: np.random.Generator,
              x_val: np.ndarray | None = None, y_val: np.ndarray | None = None) -> dict[str, Any]:
        """Fix the length of the learning-rate schedule: ``epochs`` passes over the training set."""
        bs = self.batch_size or len(y_train)
        self.total_steps = self.cfg.epochs * math.ceil(len(y_train) / bs) * max(1, self.cfg.inner_steps)
        return {}

    def _features(self, h: torch.Tensor) -> torch.Tensor | None:
        return self.phys.measure(h) if self.phys is not None else None

    def train_batch(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> dict[str, float]:
        """Block by block: measure once, ``inner_steps`` Adam steps on the block's local loss, pass on."""
        labels = torch.from_numpy(np.asarray(y, np.int64))
        h = torch.from_numpy(np.asarray(x, np.float32))
        out: dict[str, float] = {}
        for layer, (block, opt) in enumerate(zip(self.blocks, self.opts)):
            p = self._features(h)  # measured once per batch and block: a constant
            total = 0.0
            for k in range(max(1, self.cfg.inner_steps)):
                apply_lr_schedule(opt, self.cfg.lr_schedule, self.cfg.lr, self.steps + k, self.total_steps)
                loss = self.local_loss(layer, block(h, p), labels)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.item()
            out[f"loss{layer}"] = total / max(1, self.cfg.inner_steps)
            with torch.no_grad():
                h = block(h, p)
        self.steps += max(1, self.cfg.inner_steps)
        out["loss"] = float(np.mean([out[f"loss{i}"] for i in range(len(self.blocks))]))
        return out

    def block_scores(self, layer: int, z: torch.Tensor) -> torch.Tensor:
        """Class log-probabilities of block ``layer`` for its output ``z``."""
        return F.log_softmax(self.heads[layer](z), dim=1)

    @torch.no_grad()
    def scores(self, x: np.ndarray) -> torch.Tensor:
        """Log-probabilities summed over the blocks' heads, one pass through the device: ``(N, classes)``."""
        h = torch.from_numpy(np.asarray(x, np.float32))
        total = torch.zeros(len(h), self.n_classes)
        for layer, block in enumerate(self.blocks):
            h = block(h, self._features(h))
            total += self.block_scores(layer, h)
        return total

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The class with the largest summed log-probability."""
        return self.scores(x).argmax(dim=1).numpy()

    def measurements_per_prediction(self) -> int:
        """``layers`` device rows (times chunks and passes) per sample: one pass."""
        return self.rows_per_pass(len(self.blocks))

    def modules(self) -> list[nn.Module]:
        """The blocks and their heads."""
        return [self.blocks, self.heads]

    def state_dict(self) -> dict[str, Any]:
        """Weights, heads, optimiser states and the schedule position."""
        return {"blocks": self.blocks.state_dict(), "heads": self.heads.state_dict(),
                "opts": [o.state_dict() for o in self.opts], "steps": self.steps, "total_steps": self.total_steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.blocks.load_state_dict(state["blocks"])
        self.heads.load_state_dict(state["heads"])
        for o, s in zip(self.opts, state["opts"]):
            o.load_state_dict(s)
        self.steps = int(state["steps"])
        self.total_steps = int(state["total_steps"])


class LocalSupervised(LayerLocal):
    """``local``: a linear cross-entropy head on every block (plus similarity matching with ``sim_weight``)."""

    def make_head(self) -> nn.Module:
        """A linear map from the block output to the class scores."""
        return nn.Linear(self.width, self.n_classes)

    def local_loss(self, layer: int, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``(1 - w) * cross-entropy + w * similarity matching`` with ``w = sim_weight``."""
        w = self.cfg.sim_weight
        ce = F.cross_entropy(self.heads[layer](z), y)
        if w <= 0:
            return ce
        return (1.0 - w) * ce + w * similarity_matching(z, y, self.n_classes)
