"""Viewport prediction for 360-degree video as a gymnasium environment."""

from __future__ import annotations

from typing import Any, Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from agents.envs.order import EpisodeOrder
from agents.envs.text import RENDER_MODES, ansi_text, check_render_mode
from agents.viewport_data import DATASETS, WindowConfig, angle_error, denormalise, load_trajectories, normalise
from hwsim.errors import ConfigError, ShapeError


class ViewportEnv(gym.Env):
    """Predict where a viewer of a 360-degree video will look over the next 4 s from the last 2 s.

    **Episode.** One viewer watching one video (a trajectory of the split). Each step is one
    sample window of that trajectory, cut as in :mod:`agents.viewport_data` (NetLLM's trims and
    sample step); the episode terminates after the trajectory's last window.

    **Observation** (``Box [-1, 1]``, float32, shape ``(history x 3,)``): the past orientations
    ``(roll/180, pitch/90, yaw/180)``, oldest first, flattened (``obs.reshape(history, 3)``; 1-D so that
    off-the-shelf MLP policies and SB3's checker take it as it is).

    **Action** (``Box [-1, 1]``, float32, shape ``(future, 3)``): the predicted orientations in the
    same scaling.

    **Reward**: minus the mean absolute error in degrees of the prediction over the future window
    and the three angles, with roll and yaw errors wrapping around at +-180 degrees.

    **Info**: ``history_deg`` (the observation in degrees), ``dataset``, ``video``, ``user``,
    ``start`` (row of the window's first future sample); after a step also ``target_deg`` (the
    true future of the step just scored) and ``mae_deg``.

    **Order.** ``shuffle=True`` picks a random trajectory per episode; otherwise episodes walk the
    trajectories in order (a seeded reset restarts at the first).
    ``reset(options={"trajectory_index": i})`` plays trajectory ``i``.

    **Rendering.** ``render_mode="ansi"``: the trajectory, the window and the last step's error.
    """

    metadata: dict[str, Any] = {"render_modes": RENDER_MODES, "render_fps": 5}

    def __init__(self, split: str = "train", datasets: Sequence[str] = DATASETS, shuffle: bool | None = None,
                 history: int = 10, future: int = 20, trim_head: int = 30, trim_tail: int = 60,
                 step: int = 15, render_mode: str | None = None) -> None:
        self.render_mode = check_render_mode(render_mode, self.metadata["render_modes"])
        self.config = WindowConfig(history, future, trim_head, trim_tail, step)
        if history < 2 or future < 1 or step < 1:
            raise ConfigError("viewport windows need history >= 2, future >= 1 and step >= 1")
        self.split = split
        self.trajectories = [t for t in load_trajectories(split, tuple(datasets))
                             if len(self.config.starts(len(t.angles))) > 0]
        if not self.trajectories:
            raise ConfigError(f"no trajectory of split '{split}' is long enough for these windows")
        self.shuffle = (split == "train") if shuffle is None else bool(shuffle)
        self.observation_space = spaces.Box(-1.0, 1.0, shape=(history * 3,), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(future, 3), dtype=np.float32)
        self.order = EpisodeOrder(len(self.trajectories), self.shuffle, "trajectory_index", f"split '{split}'")
        self.trajectory_index = 0
        self._last_mae: float | None = None
        self._starts: list[int] = []
        self._pos = 0

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Start on a head-movement trajectory (drawn by the seed, or the next in order for the test split)."""
        super().reset(seed=seed)
        index = self.order.pick(self.np_random, seed, options)
        self.trajectory_index = index
        self._last_mae = None
        self._starts = list(self.config.starts(len(self.trajectories[index].angles)))
        self._pos = 0
        return self._observe(), self._info()

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Score the predicted future orientations ``action`` and move one window on."""
        action = np.asarray(action, dtype=np.float64)
        if action.shape != self.action_space.shape:
            raise ShapeError(f"viewport action must have shape {self.action_space.shape} "
                             f"(future steps x roll, pitch, yaw in [-1, 1]); got {action.shape}")
        traj = self.trajectories[self.trajectory_index]
        start = self._starts[self._pos]
        target = traj.angles[start:start + self.config.future]
        mae = float(angle_error(denormalise(np.clip(action, -1.0, 1.0)), target).mean())
        self._pos += 1
        terminated = self._pos >= len(self._starts)
        if terminated:
            self._pos -= 1  # the final observation repeats the last window
        info = self._info()
        info.update(target_deg=target.copy(), mae_deg=mae)
        self._last_mae = mae
        return self._observe(), -mae, terminated, False, info

    def _history(self) -> np.ndarray:
        traj = self.trajectories[self.trajectory_index]
        start = self._starts[self._pos]
        return traj.angles[start - self.config.history:start]

    def _observe(self) -> np.ndarray:
        return normalise(self._history()).astype(np.float32).reshape(-1)

    def _info(self) -> dict[str, Any]:
        traj = self.trajectories[self.trajectory_index]
        return {"history_deg": self._history().copy(), "dataset": traj.dataset, "video": traj.video,
                "user": traj.user, "start": self._starts[self._pos]}

    def render(self) -> str | None:
        """The trajectory, the current window and the last step's error, as text (``ansi``)."""
        if self.render_mode != "ansi":
            return None
        traj = self.trajectories[self.trajectory_index]
        return ansi_text(f"viewport {traj.dataset} video {traj.video} user {traj.user}",
                         {"window": f"{self._pos + 1} of {len(self._starts)}",
                          "future_start_row": self._starts[self._pos],
                          "last_mae_deg": self._last_mae, "history_deg (last)": self._history()[-1]})
