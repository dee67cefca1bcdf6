"""Play a policy in several copies of a gymnasium environment at once, one episode per copy, stepping
them in lockstep so a batched policy answers all of them in one forward pass. Only the gymnasium
API is used (``reset(options=...)``, ``step``); any :class:`agents.policy.Policy` can take part
through :class:`PerEnvPolicies`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence, runtime_checkable

import numpy as np

from agents.policy import Policy
from hwsim.errors import ConfigError
from hwsim.progress import progress


@runtime_checkable
class BatchPolicy(Protocol):
    """A policy that acts on a batch of episodes: ``reset_batch(n)``, then ``act_batch(obs, infos)``
    with the stacked observations and the infos of the episodes still running, and ``keep(rows)``
    when the others have ended."""

    name: str

    def reset_batch(self, n: int) -> None:
        """Start ``n`` episodes."""

    def act_batch(self, obs: np.ndarray, infos: Sequence[dict[str, Any]]) -> Any:
        """One action per running episode."""

    def keep(self, rows: Sequence[int]) -> None:
        """Continue only the episodes at positions ``rows``."""


class PerEnvPolicies:
    """An ordinary policy made a :class:`BatchPolicy`: one fresh copy (from ``factory``) per episode."""

    def __init__(self, factory: Callable[[], Policy]) -> None:
        self.factory = factory
        self.name = factory().name
        self.policies: list[Policy] = []

    def reset_batch(self, n: int) -> None:
        """Make and reset ``n`` copies."""
        self.policies = [self.factory() for _ in range(n)]
        for p in self.policies:
            p.reset()

    def act_batch(self, obs: np.ndarray, infos: Sequence[dict[str, Any]]) -> list[Any]:
        """Each copy's action for its own episode."""
        return [p.act(o, i) for p, o, i in zip(self.policies, obs, infos)]

    def keep(self, rows: Sequence[int]) -> None:
        """Drop the copies of ended episodes."""
        self.policies = [self.policies[r] for r in rows]


@dataclass
class PlayedEpisode:
    """The rewards of one episode, and the info of its reset and of every step."""

    first_info: dict[str, Any]
    rewards: list[float] = field(default_factory=list)
    infos: list[dict[str, Any]] = field(default_factory=list)


def play_lockstep(envs: Sequence[Any], policy: BatchPolicy, options: Sequence[dict[str, Any] | None],
                  seeds: Sequence[int | None] | None = None, max_steps: int | None = None) -> list[PlayedEpisode]:
    """Play one episode in each of ``envs`` (reset with ``options[i]`` and ``seeds[i]``) with
    ``policy``, all episodes advancing one step per call of ``act_batch``."""
    if len(options) != len(envs) or (seeds is not None and len(seeds) != len(envs)):
        raise ConfigError("play_lockstep needs one options entry (and seed) per environment")
    obs, infos, episodes = [], [], []
    for i, env in enumerate(envs):
        o, info = env.reset(seed=None if seeds is None else seeds[i], options=options[i])
        obs.append(o)
        infos.append(info)
        episodes.append(PlayedEpisode(first_info=info))
    policy.reset_batch(len(envs))
    active = list(range(len(envs)))
    steps = 0
    while active and (max_steps is None or steps < max_steps):
        actions = policy.act_batch(np.stack([np.asarray(obs[i]) for i in active]), [infos[i] for i in active])
        still = []
        for row, i in enumerate(active):
            obs[i], reward, terminated, truncated, infos[i] = envs[i].step(actions[row])
            episodes[i].rewards.append(float(reward))
            episodes[i].infos.append(infos[i])
            if not (terminated or truncated):
                still.append(row)
        if len(still) < len(active) and still:
            policy.keep(still)
        active = [active[row] for row in still]
        steps += 1
    return episodes


def play_episodes(make_env: Callable[[], Any], policy: BatchPolicy, options: Sequence[dict[str, Any] | None],
                  batch: int = 128, desc: str = "evaluate") -> list[PlayedEpisode]:
    """Play ``len(options)`` episodes, ``batch`` environments (from ``make_env``) at a time."""
    if batch < 1:
        raise ConfigError(f"batch must be >= 1; got {batch}")
    envs = [make_env() for _ in range(min(batch, len(options)))]
    out: list[PlayedEpisode] = []
    try:
        for start in progress(range(0, len(options), batch), desc=desc):
            chunk = options[start:start + batch]
            out += play_lockstep(envs[:len(chunk)], policy, chunk)
    finally:
        for env in envs:
            env.close()
    return out
