"""Return-conditioned offline RL in the style of the decision transformer, on the adapted backbone.

**Sequence.** Each step ``t`` of an episode becomes one group of tokens: the previous action
``a(t-1)`` (a "none" token at ``t = 0``), the return-to-go ``R(t)``, and the state's tokens
``s(t)`` from the task encoder; a timestep embedding is added to every token of the group and the
whole sequence is layer-normalised. The hidden state of the group's last token goes through the
networking head to give the logits of ``a(t)`` (NetLLM's order R, s, a with the action token moved
to the front of the next group: the same information, one readout per step).

**Context.** A token of step ``t`` attends to the tokens of steps ``t - context + 1 .. t`` only
(a banded causal mask). Acting step by step with a key/value cache that keeps the last
``context - 1`` groups computes exactly the same thing, so what the policy sees at test time is what
it was trained on.

**Returns.** Rewards are min-max normalised over the pool and clipped to that range, summed
(discounted by ``gamma``) from each step to the end of its episode and divided by
``return_scale``. At test time the policy is asked for ``target_return_scale`` times the best
return-to-go in the pool and the target drops by each normalised reward it earns.

**Loss.** Cross-entropy of the logged actions at every step of sampled episode pieces.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from agents.netllm.backbone import Backbone, band_mask, trim_cache
from agents.netllm.encoders import DiscreteActionEncoder, ReturnEncoder, TimestepEncoder
from agents.netllm.heads import DiscreteHead
from agents.netllm.pool import ExperiencePool
from agents.netllm.training import NetLLMTrainConfig, fit
from hwsim.errors import ConfigError, DataError


@dataclass
class ReturnStats:
    """How rewards become return tokens: the pool's reward range, the scale, the discount, the best
    return-to-go in the pool and the longest episode (bounds the timestep embedding)."""

    reward_min: float
    reward_max: float
    return_scale: float
    gamma: float
    max_return: float
    max_timestep: int

    @classmethod
    def from_pool(cls, pool: ExperiencePool, config: NetLLMTrainConfig) -> ReturnStats:
        """Statistics of ``pool`` under the scale and discount of ``config``."""
        lo, hi = float(pool.rewards.min()), float(pool.rewards.max())
        if not hi > lo:
            raise DataError("every reward in the pool is the same; return conditioning needs varied rewards")
        stats = cls(lo, hi, config.return_scale, config.gamma, 0.0, max(s.stop - s.start for s in pool.episodes()))
        stats.max_return = float(max(stats.returns_to_go(pool.rewards[s])[0] for s in pool.episodes()))
        return stats

    def normalise(self, rewards: np.ndarray | float) -> np.ndarray:
        """Rewards clipped to the pool's range, mapped to [0, 1] and divided by the scale."""
        r = np.clip(np.asarray(rewards, dtype=np.float64), self.reward_min, self.reward_max)
        return (r - self.reward_min) / (self.reward_max - self.reward_min) / self.return_scale

    def returns_to_go(self, rewards: np.ndarray) -> np.ndarray:
        """Discounted sums of the normalised rewards from each step to the end of the episode."""
        r = self.normalise(rewards)
        out = np.empty_like(r)
        acc = 0.0
        for i in range(len(r) - 1, -1, -1):
            acc = r[i] + self.gamma * acc
            out[i] = acc
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


@dataclass
class Sequences:
    """Training pieces, right-padded to ``max_seq_steps``: ``obs (C, L, ...)``, ``prev (C, L)``
    previous actions (``num_actions`` = none), ``actions``, ``rtg``, ``timesteps``, ``valid``."""

    obs: np.ndarray
    prev: np.ndarray
    actions: np.ndarray
    rtg: np.ndarray
    timesteps: np.ndarray
    valid: np.ndarray

    def __len__(self) -> int:
        return len(self.obs)


def make_sequences(pool: ExperiencePool, stats: ReturnStats, num_actions: int, max_seq_steps: int) -> Sequences:
    """Cut every episode of ``pool`` into pieces of at most ``max_seq_steps`` steps."""
    actions = np.asarray(pool.actions)
    if actions.ndim != 1 or not np.issubdtype(actions.dtype, np.integer):
        raise DataError(f"offline RL needs one discrete action per step; the pool's actions have shape "
                        f"{actions.shape} and dtype {actions.dtype}")
    if actions.min() < 0 or actions.max() >= num_actions:
        raise DataError(f"pool actions must lie in 0..{num_actions - 1}; found {actions.min()}..{actions.max()}")
    pieces = []
    for ep in pool.episodes():
        n = ep.stop - ep.start
        rtg = stats.returns_to_go(pool.rewards[ep])
        prev = np.concatenate([[num_actions], actions[ep][:-1]])
        for a in range(0, n, max_seq_steps):
            b = min(n, a + max_seq_steps)
            pieces.append((pool.observations[ep][a:b], prev[a:b], actions[ep][a:b], rtg[a:b], np.arange(a, b)))
    count, length = len(pieces), max_seq_steps
    seq = Sequences(np.zeros((count, length, *pool.observations.shape[1:]), dtype=np.float32),
                    np.full((count, length), num_actions, dtype=np.int64), np.zeros((count, length), dtype=np.int64),
                    np.zeros((count, length), dtype=np.float32), np.zeros((count, length), dtype=np.int64),
                    np.zeros((count, length), dtype=bool))
    for i, (obs, prev, act, rtg, ts) in enumerate(pieces):
        k = len(act)
        seq.obs[i, :k], seq.prev[i, :k], seq.actions[i, :k] = obs, prev, act
        seq.rtg[i, :k], seq.timesteps[i, :k], seq.valid[i, :k] = rtg, ts, True
    return seq


@dataclass
class DecodeState:
    """Key/value cache and counters of step-by-step acting for a batch of episodes."""

    cache: Any = None
    cached_tokens: int = 0
    next_position: int = 0


class DecisionModel(nn.Module):
    """Backbone + state encoder + return/action/timestep tokens + discrete networking head."""

    def __init__(self, backbone: Backbone, state_encoder: nn.Module, num_actions: int, max_timestep: int,
                 context: int) -> None:
        super().__init__()
        d = backbone.hidden_size
        self.backbone = backbone
        self.state_encoder = state_encoder
        self.returns = ReturnEncoder(d)
        self.actions = DiscreteActionEncoder(num_actions, d)
        self.timesteps = TimestepEncoder(max_timestep, d)
        self.norm = nn.LayerNorm(d)
        self.head = DiscreteHead(d, num_actions)
        self.num_actions = int(num_actions)
        self.context = int(context)
        self.group = 2 + int(state_encoder.tokens)

    def embed(self, obs: torch.Tensor, prev: torch.Tensor, rtg: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """Token embeddings ``(B, S x group, hidden)`` of ``S`` steps."""
        b, s = prev.shape
        tokens = torch.cat([self.actions(prev)[:, :, None], self.returns(rtg)[:, :, None],
                            self.state_encoder(obs)], dim=2)
        tokens = tokens + self.timesteps(timesteps)[:, :, None]
        return self.norm(tokens.reshape(b, s * self.group, -1))

    def forward(self, obs: torch.Tensor, prev: torch.Tensor, rtg: torch.Tensor,
                timesteps: torch.Tensor) -> torch.Tensor:
        """Action logits ``(B, S, num_actions)`` for every step of whole sequences (training)."""
        x = self.embed(obs, prev, rtg, timesteps)
        b, t = x.shape[:2]
        pos = torch.arange(t, device=x.device)
        steps = pos // self.group
        mask = band_mask(steps, steps, pos, pos, self.context, x.dtype)
        hidden, _ = self.backbone(x, mask, pos[None].expand(b, -1))
        return self.head(hidden.reshape(b, -1, self.group, hidden.shape[-1])[:, :, -1])

    @torch.no_grad()
    def act_step(self, state: DecodeState, obs: torch.Tensor, prev: torch.Tensor, rtg: torch.Tensor,
                 timesteps: torch.Tensor) -> torch.Tensor:
        """Action logits ``(B, num_actions)`` for the next step of ``B`` episodes, reusing the cache
        of their earlier steps (trimmed to the last ``context - 1`` steps)."""
        x = self.embed(obs[:, None], prev[:, None], rtg[:, None], timesteps[:, None])
        keep = (self.context - 1) * self.group
        if state.cache is not None and state.cached_tokens > keep:
            trim_cache(state.cache, keep)
            state.cached_tokens = keep
        past = state.cached_tokens
        g = self.group
        pos = torch.arange(state.next_position - past, state.next_position + g, device=x.device)
        steps = torch.cat([torch.zeros(past, dtype=torch.long, device=x.device),
                           torch.ones(g, dtype=torch.long, device=x.device)])  # every cached step is in the window
        mask = band_mask(steps[past:], steps, pos[past:], pos, self.context, x.dtype)
        hidden, state.cache = self.backbone(x, mask, pos[past:][None].expand(x.shape[0], -1), cache=state.cache,
                                            use_cache=True)
        state.cached_tokens += g
        state.next_position += g
        return self.head(hidden[:, -1])


def sequence_loss(model: DecisionModel, seq: Sequences, batch_size: int,
                  device: str) -> Callable[[np.random.Generator], tuple[torch.Tensor, dict[str, float]]]:
    """A loss function for :func:`agents.netllm.training.fit`: cross-entropy of the logged actions
    on a random batch of sequence pieces (trimmed to the longest piece in the batch)."""
    if len(seq) == 0:
        raise DataError("no training sequences in the pool")

    def loss_fn(rng: np.random.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        idx = rng.integers(len(seq), size=batch_size)
        length = int(seq.valid[idx].sum(axis=1).max())

        def t(a: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(a[idx, :length], device=device)

        logits = model(t(seq.obs), t(seq.prev), t(seq.rtg), t(seq.timesteps))
        valid, target = t(seq.valid), t(seq.actions)
        loss = nn.functional.cross_entropy(logits[valid], target[valid])
        accuracy = (logits[valid].argmax(-1) == target[valid]).float().mean()
        return loss, {"accuracy": float(accuracy)}

    return loss_fn


def train_offline(model: DecisionModel, pool: ExperiencePool, stats: ReturnStats, config: NetLLMTrainConfig,
                  device: str = "cpu", **fit_kwargs: Any) -> dict[str, Any]:
    """Train ``model`` on ``pool`` by return-conditioned behaviour cloning; ``fit_kwargs`` go to
    :func:`agents.netllm.training.fit` (``start_step``, ``resume``, ``log``, ``checkpoint``)."""
    if config.context < 1:
        raise ConfigError("context must be >= 1 step")
    seq = make_sequences(pool, stats, model.num_actions, config.max_seq_steps)
    result = fit(model, sequence_loss(model, seq, config.batch_size, device), config, desc="netllm offline RL",
                 **fit_kwargs)
    result["sequences"] = len(seq)
    return result
