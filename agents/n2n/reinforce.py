"""REINFORCE with a moving-average baseline, as N2N trains its policies: each update samples a few
rollouts, scores them, and steps Adam on ``-(R - b) log pi(a)``; the baseline ``b`` starts at the
first batch's mean reward and then follows ``b <- decay b + (1 - decay) mean(R)``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import nn


@dataclass(frozen=True)
class ReinforceConfig:
    """Hyperparameters of the policy-gradient updates (one dataclass, as in CleanRL). The paper's code
    runs 100 updates per stage at lr 0.003 (removal) and 0.1 (shrinkage); with the dozen updates per
    stage that fit in minutes on two cores, 0.03 moves both policies without collapsing them."""

    lr: float = 0.03
    rollouts: int = 5
    baseline_decay: float = 0.8
    entropy_coef: float = 0.0
    max_grad_norm: float = 1.0


class Reinforce:
    """The optimiser state of one policy: Adam and the reward baseline."""

    def __init__(self, policy: nn.Module, cfg: ReinforceConfig) -> None:
        self.policy = policy
        self.cfg = cfg
        self.optimizer = torch.optim.Adam(policy.parameters(), lr=cfg.lr)
        self.baseline: float | None = None

    def update(self, log_prob: torch.Tensor, rewards: Sequence[float],
               entropy: torch.Tensor | None = None) -> dict[str, float]:
        """One policy-gradient step from rollouts with summed log-probabilities ``log_prob`` (n,) and
        ``rewards``; returns the loss, the baseline used and the mean advantage."""
        r = torch.as_tensor(list(rewards), dtype=torch.float32)
        if self.baseline is None:
            self.baseline = float(r.mean())
        advantage = r - self.baseline
        loss = -(advantage * log_prob).mean()
        if entropy is not None and self.cfg.entropy_coef:
            loss = loss - self.cfg.entropy_coef * entropy
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.policy.parameters(), self.cfg.max_grad_norm)
        self.optimizer.step()
        used = self.baseline
        self.baseline = self.cfg.baseline_decay * self.baseline + (1 - self.cfg.baseline_decay) * float(r.mean())
        return {"loss": float(loss.detach()), "baseline": used, "advantage_mean": float(advantage.mean())}

    def state_dict(self) -> dict[str, Any]:
        """Policy, optimiser and baseline (for checkpoints)."""
        return {"policy": self.policy.state_dict(), "optimizer": self.optimizer.state_dict(), "baseline": self.baseline}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output."""
        self.policy.load_state_dict(state["policy"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.baseline = state["baseline"]
