"""Supervised training and evaluation of the edge models on a :class:`~edge.digits.DigitsSplit`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from edge.digits import DigitsSplit
from hwsim.progress import progress

LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]
StepHook = Callable[[int, nn.Module], None]


@dataclass(frozen=True)
class EdgeTrainConfig:
    """Hyperparameters of one supervised training run of an edge model (Adam with a cosine
    learning-rate decay)."""

    epochs: int = 20
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0


def cross_entropy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The default loss: cross-entropy of ``model(x)`` against the labels."""
    return nn.functional.cross_entropy(model(x), y)


def steps_per_epoch(data: DigitsSplit, cfg: EdgeTrainConfig) -> int:
    """Optimiser steps in one epoch over the training set."""
    return math.ceil(len(data.x_train) / cfg.batch_size)


def fit(model: nn.Module, data: DigitsSplit, cfg: EdgeTrainConfig, loss_fn: LossFn = cross_entropy,
        after_step: StepHook | None = None, desc: str = "train") -> nn.Module:
    """Train ``model`` in place on the training split and return it in eval mode.

    ``after_step(step, model)`` runs after every optimiser step (step counts from 1) and before the
    first one with step 0: pruning uses it to keep masked weights at zero and to save the weights
    it rewinds to.
    """
    gen = torch.Generator().manual_seed(cfg.seed)
    total = cfg.epochs * steps_per_epoch(data, cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / max(total, 1))))
    model.train()
    if after_step is not None:
        after_step(0, model)
    step = 0
    for _ in progress(range(cfg.epochs), desc=desc):
        order = torch.randperm(len(data.x_train), generator=gen)
        for i in range(0, len(order), cfg.batch_size):
            idx = order[i:i + cfg.batch_size]
            loss = loss_fn(model, data.x_train[idx], data.y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if after_step is not None:
                after_step(step, model)
    return model.eval()


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Class predictions (argmax of the logits) of ``model`` in eval mode."""
    was_training = model.training
    model.eval()
    out = torch.cat([model(x[i:i + batch_size]).argmax(dim=1) for i in range(0, len(x), batch_size)])
    model.train(was_training)
    return out


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of ``x`` that ``model`` classifies as ``y``."""
    return float((predict(model, x) == y).float().mean()) if len(y) else float("nan")


# the former name, kept while agents/n2n (teachers, distill) still imports it
TrainConfig = EdgeTrainConfig
