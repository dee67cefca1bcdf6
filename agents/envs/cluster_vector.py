"""The native vector form of :class:`agents.envs.cluster.ClusterSchedulingEnv` (``gymnasium.make_vec``'s
default for the cluster ids), with the batched action masks that masked policies need."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode

from agents.envs.cluster import ClusterSchedulingEnv
from agents.envs.vector import NativeVectorEnv


class ClusterSchedulingVectorEnv(NativeVectorEnv):
    """``num_envs`` :class:`~agents.envs.cluster.ClusterSchedulingEnv` copies stepped in one call, with
    the conventions of :class:`~agents.envs.vector.NativeVectorEnv`. ``action_masks()`` stacks the
    sub-environments' masks, ``(num_envs, max_slots + num_executors)``; ``info["action_mask"]`` holds
    the same."""

    def __init__(self, num_envs: int = 1, max_episode_steps: int | None = None,
                 autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP, **kwargs: Any) -> None:
        super().__init__([ClusterSchedulingEnv(**kwargs) for _ in range(num_envs)], max_episode_steps,
                         autoreset_mode)

    def action_masks(self) -> np.ndarray:
        """Each sub-environment's valid choices (slots, then limits), one row each."""
        return np.stack([env.action_masks() for env in self.envs])
