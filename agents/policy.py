"""The interface every baseline (and any learned policy) follows, and a loop that plays it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Policy(Protocol):
    """A controller of one environment: ``reset()`` at each episode start, then
    ``act(obs, info)`` with the observation and info the environment just returned."""

    name: str

    def reset(self) -> None:
        """Forget the previous episode."""

    def act(self, obs: Any, info: dict[str, Any]) -> Any:
        """The action for this observation."""


@dataclass
class Episode:
    """What one played episode gave: every reward, and the info of the reset and of the last step."""

    rewards: list[float] = field(default_factory=list)
    first_info: dict[str, Any] = field(default_factory=dict)
    last_info: dict[str, Any] = field(default_factory=dict)

    @property
    def total(self) -> float:
        """Sum of the rewards."""
        return float(sum(self.rewards))


def run_episode(env: Any, policy: Policy, seed: int | None = None, options: dict[str, Any] | None = None,
                max_steps: int | None = None) -> Episode:
    """Play one episode of ``env`` with ``policy`` until it terminates, truncates or ``max_steps``."""
    obs, info = env.reset(seed=seed, options=options)
    policy.reset()
    episode = Episode(first_info=info, last_info=info)
    steps = 0
    while max_steps is None or steps < max_steps:
        obs, reward, terminated, truncated, info = env.step(policy.act(obs, info))
        episode.rewards.append(float(reward))
        episode.last_info = info
        steps += 1
        if terminated or truncated:
            break
    return episode
