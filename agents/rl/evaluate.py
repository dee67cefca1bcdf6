"""Play test episodes of many environments in lockstep with one batched policy call per step.

A batched policy is a function ``act(obs, masks) -> actions`` over a batch of observations (``masks``
is ``None`` or the stacked ``info["action_mask"]`` of the environments). Playing the test
protocols this way costs one forward pass per step for all episodes instead of one per episode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

BatchPolicy = Callable[[np.ndarray, "np.ndarray | None"], np.ndarray]


@dataclass
class PlayedEpisode:
    """The rewards of one episode and the info of its last step."""

    rewards: list[float] = field(default_factory=list)
    last_info: dict[str, Any] = field(default_factory=dict)


def play_lockstep(envs: Sequence[Any], act: BatchPolicy, seeds: Sequence[int | None] | None = None,
                  options: Sequence[dict[str, Any] | None] | None = None) -> list[PlayedEpisode]:
    """One episode in each of ``envs`` (reset with ``seeds[i]`` / ``options[i]``), all stepped
    together until every one has ended; returns the episodes in the order of ``envs``."""
    n = len(envs)
    seeds = list(seeds) if seeds is not None else [None] * n
    options = list(options) if options is not None else [None] * n
    obs, infos = [], []
    for env, seed, opts in zip(envs, seeds, options):
        o, info = env.reset(seed=seed, options=opts)
        obs.append(o)
        infos.append(info)
    episodes = [PlayedEpisode(last_info=info) for info in infos]
    active = list(range(n))
    while active:
        batch = np.stack([obs[i] for i in active])
        masks = np.stack([infos[i]["action_mask"] for i in active]) if "action_mask" in infos[active[0]] else None
        actions = act(batch, masks)
        still = []
        for k, i in enumerate(active):
            o, reward, terminated, truncated, info = envs[i].step(actions[k])
            obs[i], infos[i] = o, info
            episodes[i].rewards.append(float(reward))
            episodes[i].last_info = info
            if not (terminated or truncated):
                still.append(i)
        active = still
    return episodes


class BatchPolicyAdapter:
    """A batched policy as a one-environment :class:`agents.policy.Policy` (``act(obs, info)``)."""

    def __init__(self, act: BatchPolicy, name: str = "ppo") -> None:
        self.batch_act = act
        self.name = name

    def reset(self) -> None:
        """The policy keeps no state between steps."""

    def act(self, obs: Any, info: dict[str, Any]) -> Any:
        """The action for one observation."""
        mask = info.get("action_mask")
        action = self.batch_act(np.asarray(obs)[None], None if mask is None else np.asarray(mask)[None])[0]
        return int(action) if np.ndim(action) == 0 else action
