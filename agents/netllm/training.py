"""The training loop both adapters share (offline RL for ABR, supervised for VP): AdamW over the
trainable weights only, linear warm-up, gradient clipping, periodic logging and checkpoints that a
resumed run continues from exactly (optimiser, schedule and random state included)."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from hwsim.errors import ConfigError
from hwsim.progress import progress


@dataclass
class NetLLMTrainConfig:
    """Hyperparameters of an adaptation run (the decision-transformer fields apply to ABR only).

    ``context``: steps a token may look back (NetLLM's ``w``); ``max_seq_steps``: training
    sequences are episodes cut into pieces of at most this many steps; ``return_scale``: returns-to-go
    (of rewards min-max normalised over the pool) are divided by it; ``target_return_scale``: the
    return the policy is asked for at test time, as a multiple of the best return in the pool;
    ``schedule``: the learning rate after the linear warm-up, ``constant`` (NetLLM's) or ``cosine``
    (decaying to zero at the last step).
    """

    steps: int = 500
    batch_size: int = 4
    lr: float = 1e-4
    weight_decay: float = 1e-4
    warmup: int = 50
    grad_clip: float = 0.25
    seed: int = 0
    log_every: int = 10
    checkpoint_every: int = 100
    feature_dim: int = 128
    context: int = 20
    max_seq_steps: int = 64
    gamma: float = 1.0
    return_scale: float = 10.0
    target_return_scale: float = 1.0
    schedule: str = "constant"

    def __post_init__(self) -> None:
        positive = ("steps", "batch_size", "log_every", "checkpoint_every", "feature_dim", "context", "max_seq_steps")
        bad = [f for f in positive if getattr(self, f) < 1]
        if bad or self.lr <= 0 or self.return_scale <= 0 or not 0 < self.gamma <= 1:
            raise ConfigError(f"invalid training configuration ({', '.join(bad) or 'lr/return_scale/gamma'}): {self}")
        if self.schedule not in ("constant", "cosine"):
            raise ConfigError(f"schedule must be 'constant' or 'cosine'; got '{self.schedule}'")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


def lr_factor(config: NetLLMTrainConfig, step: int) -> float:
    """Learning-rate multiplier at optimiser step ``step`` (0-based): linear warm-up over
    ``config.warmup`` steps, then constant or a cosine decay to zero at ``config.steps``."""
    warmup = max(1, config.warmup)
    if step < warmup or config.schedule == "constant":
        return min((step + 1) / warmup, 1.0)
    progress = min(1.0, (step - warmup + 1) / max(1, config.steps - warmup))
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def fit(model: nn.Module, loss_fn: Callable[[np.random.Generator], tuple[torch.Tensor, dict[str, float]]],
        config: NetLLMTrainConfig, start_step: int = 0, resume: dict[str, Any] | None = None,
        log: Callable[..., None] | None = None,
        checkpoint: Callable[[int, dict[str, Any]], None] | None = None, desc: str = "train") -> dict[str, Any]:
    """Run optimiser steps ``start_step .. config.steps``; ``loss_fn(rng)`` samples a batch and
    returns its loss and metrics. ``log(**metrics)`` gets the means every ``log_every`` steps and
    ``checkpoint(step, state)`` the optimiser/schedule/random state every ``checkpoint_every``."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ConfigError("the model has no trainable weights")
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, partial(lr_factor, config))
    rng = np.random.default_rng(config.seed)
    if resume:
        optimizer.load_state_dict(resume["optimizer"])
        schedule.load_state_dict(resume["schedule"])
        rng.bit_generator.state = resume["rng"]
        torch.set_rng_state(resume["torch_rng"])
    model.train()
    sums: dict[str, float] = {}
    count, losses = 0, []
    start = time.perf_counter()
    bar = progress(range(start_step, config.steps), desc=desc)
    for step in bar:
        loss, metrics = loss_fn(rng)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip > 0:
            nn.utils.clip_grad_norm_(params, config.grad_clip)
        optimizer.step()
        schedule.step()
        value = float(loss.detach())
        losses.append(value)
        for key, v in {"loss": value, **metrics}.items():
            sums[key] = sums.get(key, 0.0) + float(v)
        count += 1
        done = step + 1
        if done % config.log_every == 0 or done == config.steps:
            means = {k: v / count for k, v in sums.items()}
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{means['loss']:.4f}")
            if log is not None:
                log(step=done, lr=schedule.get_last_lr()[0], elapsed_s=round(time.perf_counter() - start, 2), **means)
            sums, count = {}, 0
        if checkpoint is not None and (done % config.checkpoint_every == 0 or done == config.steps):
            checkpoint(done, {"optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                              "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state()})
    model.eval()
    return {"steps": config.steps, "start_step": start_step, "train_s": time.perf_counter() - start,
            "first_loss": losses[0] if losses else None, "final_loss": float(np.mean(losses[-10:])) if losses else None}
