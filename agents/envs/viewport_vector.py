"""The native vector form of :class:`agents.envs.viewport.ViewportEnv` (``gymnasium.make_vec``'s
default for the viewport ids)."""

from __future__ import annotations

from typing import Any

from gymnasium.vector import AutoresetMode

from agents.envs.vector import NativeVectorEnv
from agents.envs.viewport import ViewportEnv


class ViewportVectorEnv(NativeVectorEnv):
    """``num_envs`` :class:`~agents.envs.viewport.ViewportEnv` copies stepped in one call, with the
    conventions of :class:`~agents.envs.vector.NativeVectorEnv`."""

    def __init__(self, num_envs: int = 1, max_episode_steps: int | None = None,
                 autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP, **kwargs: Any) -> None:
        super().__init__([ViewportEnv(**kwargs) for _ in range(num_envs)], max_episode_steps, autoreset_mode)
