"""The native vector form shared by hwsim's environments: ``num_envs`` sub-environments stepped in one
call, observations written into one batch array, infos batched once per step, gymnasium's
autoreset modes and ``TimeLimit``-style truncation.

A subclass builds its sub-environments and may override :meth:`NativeVectorEnv.step_envs` to do the
per-step work in batch (the ABR form rolls all observations in one numpy step). Everything else
(seeding, per-sub-environment reset options, autoreset, truncation, final observations) lives here.
"""

from __future__ import annotations

from typing import Any, Sequence

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from hwsim.errors import ConfigError


def batch_infos(infos: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Sub-environment infos as one dict of arrays over sub-environments, each key with its ``_key``
    mask (gymnasium's vector info layout). Arrays of one shape are stacked, numbers become number
    arrays, anything else (tuples, graphs) an object array."""
    out: dict[str, Any] = {}
    n = len(infos)
    keys = list(dict.fromkeys(k for info in infos for k in info))
    for key in keys:
        present = np.array([key in info for info in infos])
        values = [info.get(key) for info in infos]
        given = [v for v, p in zip(values, present) if p]
        if all(isinstance(v, np.ndarray) for v in given) and len({(v.shape, v.dtype) for v in given}) == 1:
            column = np.zeros((n, *given[0].shape), dtype=given[0].dtype)
            for i, v in enumerate(values):
                if present[i]:
                    column[i] = v
        elif all(isinstance(v, (bool, int, float, np.number)) for v in given):
            column = np.zeros(n, dtype=type(given[0]))
            column[present] = given
        else:
            column = np.empty(n, dtype=object)
            for i, v in enumerate(values):
                column[i] = v
        out[key] = column
        out[f"_{key}"] = present
    return out


class NativeVectorEnv(VectorEnv):
    """``num_envs`` copies of one environment class stepped together.

    Same observations, rewards, terminations and infos as gymnasium's ``SyncVectorEnv`` over the
    same environments. ``autoreset_mode``: ``NEXT_STEP`` (gymnasium's default: the step after an
    episode ends resets that sub-environment and ignores its action) or ``SAME_STEP`` (it resets at
    once; the last observation and info are in ``info["final_obs"]`` and ``info["final_info"]``).
    ``max_episode_steps`` truncates as gymnasium's ``TimeLimit`` does. ``reset(seed=s)`` seeds
    sub-environment ``i`` with ``s + i``; an option whose value is a list of ``num_envs`` entries
    gives sub-environment ``i`` entry ``i`` (e.g. ``{"trace_index": [0, 1, 2]}``).
    """

    metadata: dict[str, Any] = {"autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, envs: Sequence[gym.Env], max_episode_steps: int | None = None,
                 autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP) -> None:
        if not envs:
            raise ConfigError("num_envs must be >= 1")
        if max_episode_steps is not None and max_episode_steps < 1:
            raise ConfigError(f"max_episode_steps must be >= 1 or None; got {max_episode_steps}")
        modes = {"next_step": AutoresetMode.NEXT_STEP, "same_step": AutoresetMode.SAME_STEP,
                 **{m.value: m for m in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP)}}
        mode = autoreset_mode if isinstance(autoreset_mode, AutoresetMode) else modes.get(str(autoreset_mode))
        if mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
            raise ConfigError(f"autoreset_mode must be next_step or same_step (an AutoresetMode); "
                              f"got {autoreset_mode!r}")
        self.envs = list(envs)
        self.num_envs = len(self.envs)
        self.metadata = {**type(self).metadata, **{k: v for k, v in self.envs[0].metadata.items()
                                                   if k == "render_modes"}, "autoreset_mode": mode}
        self.autoreset_mode = mode
        self.max_episode_steps = max_episode_steps
        self.render_mode = getattr(self.envs[0], "render_mode", None)
        self.single_observation_space = self.envs[0].observation_space
        self.single_action_space = self.envs[0].action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._obs = np.zeros(self.observation_space.shape, dtype=self.single_observation_space.dtype)
        self._infos: list[dict[str, Any]] = [{} for _ in self.envs]
        self._done = np.zeros(self.num_envs, dtype=bool)
        self._steps = np.zeros(self.num_envs, dtype=np.int64)

    # ----------------------------------------------------------------- per sub-environment
    def reset_env(self, i: int, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
        """Reset sub-environment ``i`` and store its observation and info."""
        obs, self._infos[i] = self.envs[i].reset(seed=seed, options=options)
        self._obs[i] = obs

    def step_envs(self, actions: np.ndarray, stepped: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Step the sub-environments marked in ``stepped`` with their action; store observations and
        infos; returns ``(rewards, terminated)`` over all sub-environments (0 / False elsewhere)."""
        rewards = np.zeros(self.num_envs)
        terminated = np.zeros(self.num_envs, dtype=bool)
        for i in np.flatnonzero(stepped):
            obs, rewards[i], terminated[i], truncated, self._infos[i] = self.envs[i].step(actions[i])
            self._obs[i] = obs
        return rewards, terminated

    def env_info(self, i: int) -> dict[str, Any]:
        """The info sub-environment ``i`` last returned."""
        return self._infos[i]

    def batch_info(self) -> dict[str, Any]:
        """The stored sub-environment infos as one vector info."""
        return batch_infos(self._infos)

    # ----------------------------------------------------------------- gymnasium API
    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset every sub-environment (seed ``seed + i`` for the i-th, or one seed each from a list)."""
        if seed is None or isinstance(seed, (int, np.integer)):
            seeds = [None if seed is None else int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ConfigError(f"reset got {len(seeds)} seeds for {self.num_envs} environments")
        for i, s in enumerate(seeds):
            self.reset_env(i, s, self._options_for(options, i))
        self._done[:] = False
        self._steps[:] = 0
        return self._obs.copy(), self.batch_info()

    def _options_for(self, options: dict[str, Any] | None, i: int) -> dict[str, Any] | None:
        if not options:
            return options
        out = {}
        for key, value in options.items():
            if isinstance(value, (list, tuple, np.ndarray)) and np.ndim(value) == 1:
                if len(value) != self.num_envs:
                    raise ConfigError(f"reset option '{key}' has {len(value)} entries for {self.num_envs} environments")
                value = value[i]
            out[key] = value
        return out

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step every sub-environment; finished ones reset (next step or same step, by the mode)."""
        actions = np.asarray(actions)
        if actions.shape[:1] != (self.num_envs,):
            raise ConfigError(f"step needs one action per environment, shape ({self.num_envs}, ...); "
                              f"got {actions.shape}")
        stepped = ~self._done
        for i in np.flatnonzero(self._done):  # next-step autoreset
            self.reset_env(i)
        rewards, terminated = self.step_envs(actions, stepped)
        self._steps = np.where(stepped, self._steps + 1, 0)
        truncated = np.zeros(self.num_envs, dtype=bool)
        if self.max_episode_steps is not None:
            truncated = stepped & (self._steps >= self.max_episode_steps)
        done = terminated | truncated
        if self.autoreset_mode == AutoresetMode.SAME_STEP and done.any():
            final_obs = np.full(self.num_envs, None, dtype=object)
            final_infos: list[dict[str, Any]] = [{} for _ in self.envs]
            for i in np.flatnonzero(done):
                final_obs[i] = self._obs[i].copy()
                final_infos[i] = self.env_info(i)
                self.reset_env(i)
                self._steps[i] = 0
            info = self.batch_info()
            info.update(final_obs=final_obs, _final_obs=done.copy(), final_info=batch_infos(final_infos),
                        _final_info=done.copy())
            self._done[:] = False
        else:
            info = self.batch_info()
            self._done = done
        return self._obs.copy(), rewards, terminated, truncated, info

    def render(self) -> tuple | None:
        """Each sub-environment's rendering."""
        if self.render_mode is None:
            return None
        return tuple(env.render() for env in self.envs)

    def close_extras(self, **kwargs: Any) -> None:
        """Close every sub-environment."""
        for env in self.envs:
            env.close()
