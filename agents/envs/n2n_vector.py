"""Native vector forms of the N2N compression environments (``gymnasium.make_vec``'s default for the
``hwsim/N2N*`` ids). A student's distillation dominates a step, so these simply step the
sub-environments in turn, with the conventions of :class:`~agents.envs.vector.NativeVectorEnv`."""

from __future__ import annotations

from typing import Any

from gymnasium.vector import AutoresetMode

from agents.envs.n2n_removal import N2NRemovalEnv
from agents.envs.n2n_sequential import N2NSequentialEnv
from agents.envs.n2n_shrink import N2NShrinkEnv
from agents.envs.vector import NativeVectorEnv


class _N2NVectorEnv(NativeVectorEnv):
    env_class: type = N2NRemovalEnv

    def __init__(self, num_envs: int = 1, max_episode_steps: int | None = None,
                 autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP, **kwargs: Any) -> None:
        super().__init__([self.env_class(**kwargs) for _ in range(num_envs)], max_episode_steps, autoreset_mode)


class N2NRemovalVectorEnv(_N2NVectorEnv):
    """``num_envs`` :class:`~agents.envs.n2n_removal.N2NRemovalEnv` copies."""

    env_class = N2NRemovalEnv


class N2NShrinkVectorEnv(_N2NVectorEnv):
    """``num_envs`` :class:`~agents.envs.n2n_shrink.N2NShrinkEnv` copies."""

    env_class = N2NShrinkEnv


class N2NSequentialVectorEnv(_N2NVectorEnv):
    """``num_envs`` :class:`~agents.envs.n2n_sequential.N2NSequentialEnv` copies."""

    env_class = N2NSequentialEnv
