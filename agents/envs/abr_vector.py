"""A native vector version of :class:`agents.envs.abr.ABREnv` (``gymnasium.make_vec``'s default for
the ABR ids): the same sub-environments as ``SyncVectorEnv`` would hold, batched without per-key
info bookkeeping, so a vector step costs little more than its sub-steps."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from agents.abr_sim import TOTAL_CHUNKS
from agents.envs.abr import INFO_KEYS, ABREnv
from hwsim.errors import ConfigError


class ABRVectorEnv(VectorEnv):
    """``num_envs`` independent :class:`~agents.envs.abr.ABREnv` copies stepped in one call.

    Same observations, rewards and infos as ``SyncVectorEnv`` over the same environments (next-step
    autoreset: the step after a termination resets that sub-environment and ignores its action;
    ``reset(seed=s)`` seeds sub-environment ``i`` with ``s + i``). Info values are arrays over
    sub-environments, each with its ``_key`` mask; ``video_sizes`` is an object array.
    """

    metadata: dict[str, Any] = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(self, num_envs: int = 1, **kwargs: Any) -> None:
        if num_envs < 1:
            raise ConfigError(f"num_envs must be >= 1; got {num_envs}")
        kwargs.pop("max_episode_steps", None)  # episodes end on their own after the last chunk
        self.envs = [ABREnv(**kwargs) for _ in range(num_envs)]
        self.num_envs = num_envs
        self.single_observation_space = self.envs[0].observation_space
        self.single_action_space = self.envs[0].action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = spaces.MultiDiscrete(np.full(num_envs, self.single_action_space.n))
        self._obs = np.zeros(self.observation_space.shape, dtype=np.float32)
        self._done = np.zeros(num_envs, dtype=bool)
        self._sizes = np.empty(num_envs, dtype=object)
        self._sizes[:] = [env.video_sizes for env in self.envs]

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset every environment (seed ``seed + i`` for the i-th, or one seed each from a list)."""
        if seed is None or isinstance(seed, int):
            seeds = [None if seed is None else seed + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ConfigError(f"reset got {len(seeds)} seeds for {self.num_envs} environments")
        for i, (env, s) in enumerate(zip(self.envs, seeds)):
            env.reset(seed=s, options=options)
            self._obs[i] = env.state
        self._done[:] = False
        return self._obs.copy(), self._info()

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """One chunk per environment; finished ones reset themselves (next-step autoreset)."""
        actions = np.asarray(actions).reshape(self.num_envs)
        rewards = np.zeros(self.num_envs)
        terminated = np.zeros(self.num_envs, dtype=bool)
        for i, env in enumerate(self.envs):
            if self._done[i]:
                env.reset()
            else:
                quality = int(actions[i])
                if not 0 <= quality < self.single_action_space.n:
                    raise ConfigError(f"ABR action must be a bitrate level 0..{self.single_action_space.n - 1}; "
                                      f"got {actions[i]!r} for environment {i}")
                rewards[i] = env.advance(quality)
                terminated[i] = env.sim.chunk >= TOTAL_CHUNKS
            self._obs[i] = env.state
        self._done = terminated
        return self._obs.copy(), rewards, terminated, np.zeros(self.num_envs, dtype=bool), self._info()

    def _info(self) -> dict[str, Any]:
        columns = zip(*(env.fields for env in self.envs))
        info: dict[str, Any] = {}
        mask = np.ones(self.num_envs, dtype=bool)
        for key, column in zip(INFO_KEYS, columns):
            info[key] = np.array(column)
            info[f"_{key}"] = mask.copy()
        info["video_sizes"] = self._sizes.copy()
        info["_video_sizes"] = mask.copy()
        return info
