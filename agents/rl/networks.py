"""Actor-critic networks for :mod:`agents.rl.ppo`, one per action kind, each giving a distribution
object with ``sample()``, ``log_prob(a)``, ``entropy()`` and the ``mode`` property over a batch.

- :class:`MLPCategorical`: ``Discrete`` actions (ABR bitrates), separate actor and critic MLPs.
- :class:`MLPGaussian`: ``Box`` actions (viewport trajectories), a state-independent log std.
- :class:`SlotScheduler`: the cluster environment's ``MultiDiscrete([slots, executors])`` with action
  masks: every stage slot is scored by one shared MLP (so the policy does not depend on where in the
  slot list a stage sits), then the executor limit is drawn given the chosen slot.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from gymnasium import spaces
from torch import nn
from torch.distributions import Categorical, Normal

from hwsim.errors import ConfigError


def mlp(sizes: Sequence[int], out_gain: float = 1.0) -> nn.Sequential:
    """Tanh MLP with orthogonal initialisation (CleanRL's ``layer_init``); the last layer has gain
    ``out_gain``."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        linear = nn.Linear(a, b)
        last = i == len(sizes) - 2
        nn.init.orthogonal_(linear.weight, out_gain if last else math.sqrt(2.0))
        nn.init.zeros_(linear.bias)
        layers.append(linear)
        if not last:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class MaskedCategorical(Categorical):
    """A categorical whose masked-out choices have probability 0 (and add nothing to the entropy)."""

    def __init__(self, logits: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        self.mask = mask
        if mask is not None:
            logits = torch.where(mask, logits, torch.finfo(logits.dtype).min)
        super().__init__(logits=logits)

    def entropy(self) -> torch.Tensor:
        """Entropy over the allowed choices."""
        plogp = self.probs * self.logits
        if self.mask is not None:
            plogp = torch.where(self.mask, plogp, 0.0)
        return -plogp.sum(-1)


class MLPCategorical(nn.Module):
    """Flattened observation -> categorical policy and scalar value."""

    def __init__(self, obs_dim: int, actions: int, hidden: Sequence[int] = (128, 128)) -> None:
        super().__init__()
        self.actor = mlp([obs_dim, *hidden, actions], out_gain=0.01)
        self.critic = mlp([obs_dim, *hidden, 1], out_gain=1.0)

    def dist(self, obs: torch.Tensor, mask: torch.Tensor | None = None) -> MaskedCategorical:
        """The action distribution of each observation."""
        return MaskedCategorical(self.actor(obs.flatten(1)), mask)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        """The value estimate of each observation."""
        return self.critic(obs.flatten(1)).squeeze(-1)


class DiagGaussian(Normal):
    """A diagonal Gaussian over flattened actions whose log-probability and entropy sum over dims."""

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """Log-density of each action (summed over its dimensions)."""
        return super().log_prob(value).sum(-1)

    def entropy(self) -> torch.Tensor:
        """Entropy of each distribution (summed over dimensions)."""
        return super().entropy().sum(-1)


class MLPGaussian(nn.Module):
    """Flattened observation -> Gaussian policy over a flattened ``Box`` action, and a value."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: Sequence[int] = (128, 128), log_std: float = -1.0) -> None:
        super().__init__()
        self.actor = mlp([obs_dim, *hidden, act_dim], out_gain=0.01)
        self.critic = mlp([obs_dim, *hidden, 1], out_gain=1.0)
        self.log_std = nn.Parameter(torch.full((act_dim,), float(log_std)))

    def dist(self, obs: torch.Tensor, mask: torch.Tensor | None = None) -> DiagGaussian:
        """The action distribution of each observation."""
        mean = self.actor(obs.flatten(1))
        return DiagGaussian(mean, self.log_std.exp().expand_as(mean))

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        """The value estimate of each observation."""
        return self.critic(obs.flatten(1)).squeeze(-1)


class SlotLimitDist:
    """Slot, then limit given the slot: the joint distribution of the cluster action ``(slot, limit-1)``."""

    def __init__(self, slot: MaskedCategorical, limit_logits: torch.Tensor, limit_mask: torch.Tensor | None) -> None:
        self.slot = slot
        self.limit_logits = limit_logits  # (B, slots, limits)
        self.limit_mask = limit_mask

    def _limit(self, slots: torch.Tensor) -> MaskedCategorical:
        index = slots.view(-1, 1, 1).expand(-1, 1, self.limit_logits.shape[-1])
        return MaskedCategorical(self.limit_logits.gather(1, index).squeeze(1), self.limit_mask)

    def sample(self) -> torch.Tensor:
        """One ``(slot, limit-1)`` pair per row."""
        slots = self.slot.sample()
        return torch.stack([slots, self._limit(slots).sample()], dim=-1)

    @property
    def mode(self) -> torch.Tensor:
        """The most likely slot and its most likely limit."""
        slots = self.slot.probs.argmax(-1)
        return torch.stack([slots, self._limit(slots).probs.argmax(-1)], dim=-1)

    def log_prob(self, action: torch.Tensor) -> torch.Tensor:
        """log p(slot) + log p(limit | slot)."""
        slots = action[:, 0].long()
        return self.slot.log_prob(slots) + self._limit(slots).log_prob(action[:, 1].long())

    def entropy(self) -> torch.Tensor:
        """H(slot) + E_slot H(limit | slot) (exact, over the allowed slots)."""
        logits = self.limit_logits
        if self.limit_mask is not None:
            logits = torch.where(self.limit_mask[:, None, :], logits, torch.finfo(logits.dtype).min)
        logp = torch.log_softmax(logits, -1)
        plogp = logp.exp() * logp
        if self.limit_mask is not None:
            plogp = torch.where(self.limit_mask[:, None, :], plogp, 0.0)
        limit_entropy = -plogp.sum(-1)  # (B, slots)
        return self.slot.entropy() + (self.slot.probs * limit_entropy).sum(-1)


class SlotScheduler(nn.Module):
    """Policy and value for :class:`agents.envs.cluster.ClusterSchedulingEnv` observations.

    The observation is ``slots x features`` stage rows plus global features. Each row, with the
    globals appended, goes through one shared encoder; a slot's logit and its limit logits come
    from its embedding and the mean embedding of the filled slots; the value from that mean and the
    globals. Masks are the environment's ``action_masks()`` (slots, then limits).
    """

    def __init__(self, slots: int, features: int, globals_: int, limits: int, hidden: int = 64) -> None:
        super().__init__()
        self.slots, self.features, self.globals_, self.limits = slots, features, globals_, limits
        self.encoder = mlp([features + globals_, hidden, hidden])
        self.encoder.append(nn.Tanh())
        self.slot_head = mlp([2 * hidden, hidden, 1], out_gain=0.01)
        self.limit_head = mlp([2 * hidden, hidden, limits], out_gain=0.01)
        self.critic = mlp([hidden + globals_, hidden, hidden, 1], out_gain=1.0)

    def _embed(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        b = obs.shape[0]
        rows = obs[:, :self.slots * self.features].view(b, self.slots, self.features)
        glob = obs[:, self.slots * self.features:]
        filled = rows[:, :, 0] > 0.5
        emb = self.encoder(torch.cat([rows, glob[:, None, :].expand(-1, self.slots, -1)], dim=-1))
        weight = filled.float()
        pooled = (emb * weight[..., None]).sum(1) / weight.sum(1, keepdim=True).clamp(min=1.0)
        return emb, pooled, glob, filled

    def dist(self, obs: torch.Tensor, mask: torch.Tensor | None = None) -> SlotLimitDist:
        """The joint distribution of ``(slot, limit-1)`` for each observation."""
        emb, pooled, _, filled = self._embed(obs)
        both = torch.cat([emb, pooled[:, None, :].expand_as(emb)], dim=-1)
        slot_mask = filled if mask is None else mask[:, :self.slots]
        limit_mask = None if mask is None else mask[:, self.slots:]
        slot_mask = slot_mask | ~slot_mask.any(-1, keepdim=True)  # a finished episode has no slot
        return SlotLimitDist(MaskedCategorical(self.slot_head(both).squeeze(-1), slot_mask),
                             self.limit_head(both), limit_mask)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        """The value estimate of each observation."""
        _, pooled, glob, _ = self._embed(obs)
        return self.critic(torch.cat([pooled, glob], dim=-1)).squeeze(-1)


def build_network(kind: str, obs_shape: tuple[int, ...], action_space: object, hidden: Sequence[int],
                  layout: dict | None = None) -> nn.Module:
    """The network ``kind`` (``mlp`` or ``slots``) for these spaces; ``layout`` sizes the slot network."""
    obs_dim = int(math.prod(obs_shape))
    if kind == "slots":
        if layout is None:
            raise ConfigError("the 'slots' network needs the observation layout (slots, features, globals)")
        return SlotScheduler(layout["slots"], layout["features"], layout["globals"], layout["limits"], hidden[0])
    if kind != "mlp":
        raise ConfigError(f"unknown network '{kind}'; choose mlp or slots")
    if isinstance(action_space, spaces.Discrete):
        return MLPCategorical(obs_dim, int(action_space.n), hidden)
    if isinstance(action_space, spaces.Box):
        return MLPGaussian(obs_dim, int(math.prod(action_space.shape)), hidden)
    raise ConfigError(f"the mlp network handles Discrete and Box actions; got {action_space}; "
                      f"use the 'slots' network for cluster scheduling")
