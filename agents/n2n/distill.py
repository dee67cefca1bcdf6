"""Knowledge distillation as N2N does it: the student regresses the teacher's logits (an L2 loss on
the training inputs, Ba & Caruana 2014), for a short, fixed budget of epochs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
from torch import nn

from agents.n2n.teachers import Teacher
from edge.train import TrainConfig, fit


@dataclass(frozen=True)
class DistillConfig:
    """The distillation budget and optimiser of one student (Adam, cosine decay)."""

    epochs: int = 4
    batch_size: int = 64
    lr: float = 1e-2
    weight_decay: float = 0.0

    def to_json(self) -> dict:
        """Plain-JSON form (part of the student cache key)."""
        return asdict(self)


def logit_regression(model: nn.Module, x: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """Mean squared error between the student's and the teacher's logits."""
    return nn.functional.mse_loss(model(x), teacher_logits)


def distill(student: nn.Module, teacher: Teacher, cfg: DistillConfig, seed: int = 0) -> nn.Module:
    """Train ``student`` in place to regress ``teacher``'s logits on the training split; returns it in eval mode."""
    targets = replace(teacher.data, y_train=teacher.train_logits)
    train = TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, weight_decay=cfg.weight_decay,
                        seed=seed)
    return fit(student, targets, train, loss_fn=logit_regression, desc="distill")
