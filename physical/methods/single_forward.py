"""The single-forward objective of ForwardGNN (Park et al., "Forward learning of graph neural networks",
ICLR 2024) on physical blocks (``sf``).

No negative data and no label in the input: every block scores its output ``z_l`` against one vector
per class with the cosine similarity, and lowers the cross-entropy of ``softmax(cos(z_l, c_k) / T)``
(temperature ``T``). The class vectors ``c_k`` are either learned with the block (``class_vectors =
learned``) or, prototype-style, the running class means of the block's own outputs
(``class_vectors = mean``: an exponential moving average of each class's mean output over the
training batches; the block then learns to cluster its outputs around them). The rest -- one
measurement per batch and block, ``inner_steps`` local Adam steps, one pass for a prediction
(``layers`` device rows per sample), log-probabilities summed over the blocks -- is
:class:`physical.methods.local.LayerLocal`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hwsim.errors import ConfigError
from physical.blocks import PhysicalLayer
from physical.methods.local import LayerLocal

MEAN_MOMENTUM = 0.9  # weight of the old class means in the running average


class ClassVectors(nn.Module):
    """Cosine-similarity scores of ``z`` against ``classes`` vectors: learned parameters or running means."""

    def __init__(self, width: int, classes: int, learned: bool) -> None:
        super().__init__()
        init = F.normalize(torch.randn(classes, width), dim=1)
        self.learned = learned
        if learned:
            self.vectors = nn.Parameter(init)
        else:
            self.register_buffer("vectors", init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Cosine similarity of every row of ``z`` with every class vector: ``(B, classes)``."""
        return F.normalize(z, dim=1) @ F.normalize(self.vectors, dim=1).T

    @torch.no_grad()
    def update_means(self, z: torch.Tensor, y: torch.Tensor) -> None:
        """Move each class vector present in the batch towards that class's mean normalised output."""
        zn = F.normalize(z, dim=1)
        for c in torch.unique(y):
            mean = zn[y == c].mean(dim=0)
            self.vectors[c] = MEAN_MOMENTUM * self.vectors[c] + (1 - MEAN_MOMENTUM) * mean


class SingleForward(LayerLocal):
    """``sf``: cross-entropy over cosine similarities to per-class vectors on every block."""

    def __init__(self, cfg: Any, n_features: int, n_classes: int, phys: PhysicalLayer | None) -> None:
        super().__init__(cfg, n_features, n_classes, phys)
        if cfg.temperature <= 0:
            raise ConfigError(f"temperature must be positive, got {cfg.temperature}")

    def make_head(self) -> nn.Module:
        """The class vectors of one block."""
        return ClassVectors(self.width, self.n_classes, learned=self.cfg.class_vectors == "learned")

    def local_loss(self, layer: int, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the similarity logits; with class means, the means follow the batch first."""
        head = self.heads[layer]
        if not head.learned:
            head.update_means(z.detach(), y)
        return F.cross_entropy(head(z) / self.cfg.temperature, y)

    def block_scores(self, layer: int, z: torch.Tensor) -> torch.Tensor:
        """Log-probabilities of the similarity logits."""
        return F.log_softmax(self.heads[layer](z) / self.cfg.temperature, dim=1)
