"""Actor-critic networks for :mod:`agents.rl.ppo`, one per action kind, each giving a distribution
object with ``sample()``, ``log_prob(a)``, ``entropy()`` and the ``mode`` property over a batch;
``dist_value(obs, mask)`` gives the distribution and the value together.

- :class:`MLPCategorical`: ``Discrete`` actions (ABR bitrates), separate actor and critic MLPs.
- :class:`MLPGaussian`: ``Box`` actions (viewport trajectories), a state-independent log std.
- :class:`SlotScheduler`: the cluster environment's ``MultiDiscrete([slots, executors])`` with action
  masks: every stage slot is scored by one shared MLP (so the policy does not depend on where in the
  slot list a stage sits), then the executor limit is drawn given the chosen slot.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

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


class MLPActorCritic(nn.Module):
    """Separate actor and critic MLPs over the flattened observation; subclasses turn the actor's
    output into a distribution."""

    def __init__(self, obs_dim: int, out_dim: int, hidden: Sequence[int] = (64, 64)) -> None:
        super().__init__()
        self.actor = mlp([obs_dim, *hidden, out_dim], out_gain=0.01)
        self.critic = mlp([obs_dim, *hidden, 1], out_gain=1.0)

    def dist(self, obs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.distributions.Distribution:
        """The action distribution of each observation."""
        raise NotImplementedError

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        """The value estimate of each observation."""
        return self.critic(obs.flatten(1)).squeeze(-1)

    def dist_value(self, obs: torch.Tensor,
                   mask: torch.Tensor | None = None) -> tuple[torch.distributions.Distribution, torch.Tensor]:
        """The action distribution and the value of each observation."""
        return self.dist(obs, mask), self.value(obs)


class MLPCategorical(MLPActorCritic):
    """Flattened observation -> categorical policy (masked when a mask is given) and scalar value."""

    def dist(self, obs: torch.Tensor, mask: torch.Tensor | None = None) -> MaskedCategorical:
        """The action distribution of each observation."""
        return MaskedCategorical(self.actor(obs.flatten(1)), mask)


class DiagGaussian(Normal):
    """A diagonal Gaussian over flattened actions whose log-probability and entropy sum over dims."""

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """Log-density of each action (summed over its dimensions)."""
        return super().log_prob(value).sum(-1)

    def entropy(self) -> torch.Tensor:
        """Entropy of each distribution (summed over dimensions)."""
        return super().entropy().sum(-1)


class MLPGaussian(MLPActorCritic):
    """Flattened observation -> Gaussian policy over a flattened ``Box`` action (a learned,
    state-independent log std), and a value."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: Sequence[int] = (64, 64), log_std: float = -1.0) -> None:
        super().__init__(obs_dim, act_dim, hidden)
        self.log_std = nn.Parameter(torch.full((act_dim,), float(log_std)))

    def dist(self, obs: torch.Tensor, mask: torch.Tensor | None = None) -> DiagGaussian:
        """The action distribution of each observation."""
        mean = self.actor(obs.flatten(1))
        return DiagGaussian(mean, self.log_std.exp().expand_as(mean))


class SlotLimitDist:
    """Slot, then limit given the slot: the joint distribution of the cluster action ``(slot, limit-1)``.

    The limit's logits are computed only for the slots asked about (sampled, scored, or most likely),
    so a step costs one limit-head pass per row, not one per slot. :meth:`entropy` is ``H(slot)`` plus
    the limit entropy given the slots last passed to :meth:`log_prob` (in training: the slots taken,
    an unbiased estimate of ``E_slot H(limit | slot)``), or given the most likely slots before that.
    """

    def __init__(self, slot: MaskedCategorical, limit_logits: Callable[[torch.Tensor], torch.Tensor],
                 limit_mask: torch.Tensor | None) -> None:
        self.slot = slot
        self.limit_logits = limit_logits  # slots (B,) -> logits (B, limits)
        self.limit_mask = limit_mask
        self._last: MaskedCategorical | None = None

    def _limit(self, slots: torch.Tensor) -> MaskedCategorical:
        return MaskedCategorical(self.limit_logits(slots), self.limit_mask)

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
        self._last = self._limit(slots)
        return self.slot.log_prob(slots) + self._last.log_prob(action[:, 1].long())

    def entropy(self) -> torch.Tensor:
        """H(slot) + H(limit | the slots of the last :meth:`log_prob`, else the most likely ones)."""
        limit = self._last if self._last is not None else self._limit(self.slot.probs.argmax(-1))
        return self.slot.entropy() + limit.entropy()


class SlotScheduler(nn.Module):
    """Policy and value for :class:`agents.envs.cluster.ClusterSchedulingEnv` observations.

    The observation is ``slots x features`` stage rows plus global features. Each filled row, with the
    globals appended, goes through one shared encoder (slots fill from the first, so the batch is cut
    after the last filled one); a slot's logit comes from its embedding and the mean embedding of the
    filled slots, the limit's logits from the chosen slot's embedding and that mean, the value from
    the mean and the globals. Masks are the environment's ``action_masks()`` (slots, then limits).
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
        used = int(filled.any(0).nonzero().max()) + 1 if filled.any() else 1
        rows, used_filled = rows[:, :used], filled[:, :used]
        emb = self.encoder(torch.cat([rows, glob[:, None, :].expand(-1, used, -1)], dim=-1))
        weight = used_filled.float()
        pooled = (emb * weight[..., None]).sum(1) / weight.sum(1, keepdim=True).clamp(min=1.0)
        return emb, pooled, glob, filled

    def dist_value(self, obs: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[SlotLimitDist, torch.Tensor]:
        """The action distribution and the value of each observation, from one encoder pass."""
        emb, pooled, glob, filled = self._embed(obs)
        used = emb.shape[1]
        slot_logits = torch.full((obs.shape[0], self.slots), torch.finfo(obs.dtype).min, dtype=obs.dtype)
        slot_logits[:, :used] = self.slot_head(torch.cat([emb, pooled[:, None, :].expand_as(emb)], dim=-1)).squeeze(-1)
        slot_mask = filled if mask is None else mask[:, :self.slots]
        limit_mask = None if mask is None else mask[:, self.slots:]
        slot_mask = slot_mask | ~slot_mask.any(-1, keepdim=True)  # a finished episode has no slot
        rows = torch.arange(obs.shape[0])

        def limit_logits(slots: torch.Tensor) -> torch.Tensor:
            chosen = emb[rows, slots.clamp(max=used - 1)]
            return self.limit_head(torch.cat([chosen, pooled], dim=-1))

        dist = SlotLimitDist(MaskedCategorical(slot_logits, slot_mask), limit_logits, limit_mask)
        return dist, self.critic(torch.cat([pooled, glob], dim=-1)).squeeze(-1)

    def dist(self, obs: torch.Tensor, mask: torch.Tensor | None = None) -> SlotLimitDist:
        """The joint distribution of ``(slot, limit-1)`` for each observation."""
        return self.dist_value(obs, mask)[0]

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
