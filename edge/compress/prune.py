"""Unstructured global magnitude pruning with lottery-ticket rewinding.

Frankle & Carbin (2019) find sparse "winning tickets" by iterating: train, prune the smallest
weights, reset the survivors to their initial values, retrain. Frankle et al. (2020) rewind to the
weights of an early iteration ``k`` instead of the initialisation, which keeps deeper networks
trainable. Each round here prunes ``rate`` of the weights that are still alive, globally across all
convolution and linear weights (biases and batch norm are left dense), rewinds every parameter and
buffer to iteration ``k`` and retrains with the same schedule while the masks keep pruned weights at
zero.

The result is a plain ``nn.Module`` with the masks baked into dense weights: it is smaller only in
its number of non-zeros. Relax in TVM 0.27 has no sparse kernels, so compiled it runs exactly as fast
as the dense model; benchmarks show it for its accuracy at a given sparsity, not for speed.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from edge.digits import DigitsSplit
from edge.train import LossFn, EdgeTrainConfig, accuracy, cross_entropy, fit
from hwsim.errors import ConfigError

Masks = dict[str, torch.Tensor]


@dataclass(frozen=True)
class LotteryConfig:
    """Rounds of prune-rewind-retrain; final sparsity is ``1 - (1 - rate) ** rounds``."""

    rounds: int = 3
    rate: float = 0.5
    rewind_step: int = 50
    train: EdgeTrainConfig = field(default_factory=EdgeTrainConfig)

    @property
    def sparsity(self) -> float:
        """Fraction of the prunable weights that are zero after the last round."""
        return 1.0 - (1.0 - self.rate) ** self.rounds


def prunable(model: nn.Module) -> dict[str, nn.Parameter]:
    """The weights that pruning may remove: every Conv2d and Linear weight, by parameter name."""
    return {f"{name}.weight": mod.weight for name, mod in model.named_modules()
            if isinstance(mod, (nn.Conv2d, nn.Linear))}


def global_magnitude_masks(model: nn.Module, sparsity: float, masks: Masks | None = None) -> Masks:
    """Masks that zero the ``sparsity`` fraction of all prunable weights with the smallest magnitude,
    ranked globally; weights already masked out stay masked out (they count towards the sparsity)."""
    if not 0.0 <= sparsity < 1.0:
        raise ConfigError(f"sparsity must be in [0, 1), got {sparsity}")
    weights = prunable(model)
    old = masks or {n: torch.ones_like(w, dtype=torch.bool) for n, w in weights.items()}
    scores = torch.cat([torch.where(old[n], w.detach().abs(), torch.full_like(w, -1.0)).flatten()
                        for n, w in weights.items()])
    n_prune = int(round(sparsity * scores.numel()))
    keep = torch.ones(scores.numel(), dtype=torch.bool)
    if n_prune:
        keep[torch.argsort(scores, stable=True)[:n_prune]] = False  # masked weights (-1) go first
    out: Masks = {}
    offset = 0
    for n, w in weights.items():
        out[n] = keep[offset:offset + w.numel()].view_as(w) & old[n]
        offset += w.numel()
    return out


@torch.no_grad()
def apply_masks(model: nn.Module, masks: Masks) -> nn.Module:
    """Zero the masked-out weights of ``model`` in place."""
    params = dict(model.named_parameters())
    for name, mask in masks.items():
        params[name].mul_(mask)
    return model


def rewind(model: nn.Module, state: dict[str, torch.Tensor], masks: Masks) -> nn.Module:
    """Reset every parameter and buffer of ``model`` to ``state`` and apply ``masks``."""
    model.load_state_dict(state)
    return apply_masks(model, masks)


def masked_fit(model: nn.Module, data: DigitsSplit, cfg: EdgeTrainConfig, masks: Masks | None, rewind_step: int,
               loss_fn: LossFn = cross_entropy) -> dict[str, torch.Tensor]:
    """Train ``model`` with ``masks`` enforced after every step; returns its state at step ``rewind_step``."""
    saved: dict[str, torch.Tensor] = {}

    def hook(step: int, m: nn.Module) -> None:
        if masks is not None:
            apply_masks(m, masks)
        if step == rewind_step:
            saved.update({k: v.detach().clone() for k, v in m.state_dict().items()})

    fit(model, data, cfg, loss_fn=loss_fn, after_step=hook, desc="lottery")
    if not saved:
        raise ConfigError(f"rewind_step {rewind_step} is beyond the {cfg.epochs}-epoch schedule; lower it")
    return saved


def lottery_ticket(model: nn.Module, data: DigitsSplit, cfg: LotteryConfig,
                   loss_fn: LossFn = cross_entropy) -> tuple[nn.Module, Masks, list[dict[str, Any]]]:
    """Iterative magnitude pruning with rewinding, starting from the untrained ``model``.

    Returns the pruned model (a copy, masks baked into its weights), the final masks and one record
    per round (sparsity, validation and test accuracy); round 0 is the dense network.
    """
    if not 0.0 < cfg.rate < 1.0 or cfg.rounds < 1:
        raise ConfigError(f"lottery ticket needs 0 < rate < 1 and rounds >= 1, got rate={cfg.rate} "
                          f"rounds={cfg.rounds}")
    model = copy.deepcopy(model)
    rewind_state = masked_fit(model, data, cfg.train, None, cfg.rewind_step, loss_fn)
    history = [{"round": 0, "sparsity": 0.0, "val_acc": accuracy(model, data.x_val, data.y_val),
                "test_acc": accuracy(model, data.x_test, data.y_test)}]
    masks: Masks | None = None
    for r in range(1, cfg.rounds + 1):
        sparsity = 1.0 - (1.0 - cfg.rate) ** r
        masks = global_magnitude_masks(model, sparsity, masks)
        rewind(model, rewind_state, masks)
        masked_fit(model, data, cfg.train, masks, cfg.rewind_step, loss_fn)
        apply_masks(model, masks)
        history.append({"round": r, "sparsity": mask_sparsity(masks),
                        "val_acc": accuracy(model, data.x_val, data.y_val),
                        "test_acc": accuracy(model, data.x_test, data.y_test)})
    assert masks is not None
    return model.eval(), masks, history


def mask_sparsity(masks: Masks) -> float:
    """Fraction of masked-out weights over all masks."""
    total = sum(m.numel() for m in masks.values())
    return 1.0 - sum(int(m.sum()) for m in masks.values()) / max(total, 1)
