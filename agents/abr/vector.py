"""A native vector version of :class:`agents.abr.env.ABREnv` (``gymnasium.make_vec``'s default for
the ABR ids): the same sub-environments as ``SyncVectorEnv`` would hold, with the observations
rolled for all of them in one batched numpy step and infos batched without per-key bookkeeping."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode

from agents.abr.env import BUFFER_NORM_S, INFO_KEYS, MAX_KBPS, ABREnv
from agents.abr.sim import TOTAL_CHUNKS
from agents.abr.traces import BITRATE_LEVELS
from agents.envs.vector import NativeVectorEnv
from hwsim.errors import ConfigError


class ABRVectorEnv(NativeVectorEnv):
    """``num_envs`` independent :class:`~agents.abr.env.ABREnv` copies stepped in one call (the
    conventions of :class:`~agents.envs.vector.NativeVectorEnv`: ``SyncVectorEnv``'s results, either
    autoreset mode, ``TimeLimit`` truncation, per-sub-environment options such as
    ``{"trace_index": [0, 1, ...]}``). Info values are arrays over sub-environments, each with its
    ``_key`` mask; ``video_sizes`` is an object array.
    """

    def __init__(self, num_envs: int = 1, max_episode_steps: int | None = None,
                 autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP, **kwargs: Any) -> None:
        if num_envs < 1:
            raise ConfigError(f"num_envs must be >= 1; got {num_envs}")
        super().__init__([ABREnv(**kwargs) for _ in range(num_envs)], max_episode_steps, autoreset_mode)
        self._states = self._obs.reshape(num_envs, 6, -1)  # (envs, 6, history_len) view of the batch
        for i, env in enumerate(self.envs):  # each sub-environment keeps its state in the batch
            env._state = self._states[i]
        self._next_mb, self._ahead_mb = self.envs[0].next_mb, self.envs[0].ahead_mb
        self._max_delay = self.envs[0].max_delay_obs
        self._sizes = np.empty(num_envs, dtype=object)
        self._sizes[:] = [env.video_sizes for env in self.envs]

    def reset_env(self, i: int, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
        """Reset sub-environment ``i`` (its observation is written in place into the batch)."""
        self.envs[i].reset(seed=seed, options=options)

    def step_envs(self, actions: np.ndarray, stepped: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Download one chunk in every stepped sub-environment, then roll their observations at once."""
        actions = actions.reshape(self.num_envs)
        levels = self.single_action_space.n
        if actions.dtype.kind not in "iu" or actions.min() < 0 or actions.max() >= levels:
            bad = next((i for i, a in enumerate(actions) if not (float(a).is_integer() and 0 <= a < levels)), None)
            if bad is not None:
                raise ConfigError(f"ABR action must be a bitrate level 0..{levels - 1}; "
                                  f"got {actions[bad]!r} for environment {bad}")
        rewards = np.zeros(self.num_envs)
        fields = []
        envs = self.envs
        for i in np.flatnonzero(stepped).tolist():
            rewards[i] = envs[i].download(int(actions[i]))
            fields.append(envs[i].fields)
        if fields:
            self._push(stepped, fields)
        chunk = np.array([env.sim.chunk for env in envs])
        return rewards, stepped & (chunk >= TOTAL_CHUNKS)

    def _push(self, stepped: np.ndarray, fields: list[tuple]) -> None:
        """Roll the observations of the stepped environments by their new chunk, all at once
        (the batched form of :meth:`ABREnv.push_observation`)."""
        quality, kbps, _, buffer_s, delay_ms, _, size, _, _, chunk, left, _ = (np.array(c) for c in zip(*fields))
        rows = slice(None) if stepped.all() else np.flatnonzero(stepped)
        obs = self._states[rows]
        obs[:, :, :-1] = obs[:, :, 1:]
        obs[:, 0, -1] = kbps / MAX_KBPS
        obs[:, 1, -1] = buffer_s / BUFFER_NORM_S
        obs[:, 2, -1] = size / delay_ms / 1000.0
        obs[:, 3, -1] = np.minimum(delay_ms / 1000.0 / BUFFER_NORM_S, self._max_delay)
        obs[:, 4, :BITRATE_LEVELS] = self._next_mb[chunk]
        obs[:, 4, BITRATE_LEVELS:] = self._ahead_mb[quality, chunk]
        obs[:, 5, -1] = left / TOTAL_CHUNKS
        if not isinstance(rows, slice):
            self._states[rows] = obs

    def env_info(self, i: int) -> dict[str, Any]:
        """The info of sub-environment ``i``'s last chunk."""
        return self.envs[i].info()

    def batch_info(self) -> dict[str, Any]:
        """The sub-environments' infos, one array per key."""
        columns = zip(*(env.fields for env in self.envs))
        info: dict[str, Any] = {}
        mask = np.ones(self.num_envs, dtype=bool)
        for key, column in zip(INFO_KEYS, columns):
            info[key] = np.array(column)
            info[f"_{key}"] = mask.copy()
        info["video_sizes"] = self._sizes.copy()
        info["_video_sizes"] = mask.copy()
        return info
