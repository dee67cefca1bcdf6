"""Forward-forward goodness functions and the contrastive loss between positive and negative data.

- ``cosine`` (PhyLL reference): ``g = cos(|y|, xi)`` with a fixed random unit vector ``xi`` per layer.
- ``sumsq`` (Hinton 2022): ``g = mean(y**2)``; the activations passed to the next layer are then
  length-normalised so the next layer cannot read goodness off the magnitude.

The loss is ``mean softplus(-alpha * (g_pos - g_neg))`` for both.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from hwsim.errors import ConfigError


def cosine_goodness(y: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
    """Cosine similarity between ``|y|`` (rows) and the unit vector ``xi``: one value per row."""
    return F.cosine_similarity(y.abs(), xi.expand_as(y), dim=1, eps=1e-6)


def sumsq_goodness(y: torch.Tensor, xi: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of squared activations per row (``xi`` is ignored)."""
    del xi
    return y.pow(2).mean(dim=1)


GOODNESS: dict[str, Callable[..., torch.Tensor]] = {"cosine": cosine_goodness, "sumsq": sumsq_goodness}


def goodness_fn(name: str) -> Callable[..., torch.Tensor]:
    """The goodness function called ``name`` (``cosine`` or ``sumsq``)."""
    if name not in GOODNESS:
        raise ConfigError(f"unknown goodness '{name}'; choose one of {', '.join(GOODNESS)}")
    return GOODNESS[name]


def ff_loss(g_pos: torch.Tensor, g_neg: torch.Tensor, alpha: float) -> torch.Tensor:
    """``mean softplus(-alpha * (g_pos - g_neg))``: small when positive data is better than negative."""
    return F.softplus(-alpha * (g_pos - g_neg)).mean()


def pass_on(y: torch.Tensor, goodness: str) -> torch.Tensor:
    """What a layer hands to the next one: ``y`` for cosine goodness, ``y / |y|`` for sum of squares."""
    if goodness == "sumsq":
        return y / (y.norm(dim=1, keepdim=True) + 1e-6)
    return y


def unit_vectors(n: int, dim: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` random unit vectors of size ``dim`` (the fixed ``xi`` of each layer)."""
    v = torch.randn(n, dim, generator=generator)
    return v / v.norm(dim=1, keepdim=True)
