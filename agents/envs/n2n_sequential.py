"""N2N compression one layer per step (as AMC, He et al. 2018, walks a network), so standard RL
libraries can drive it with a small discrete action space."""

from __future__ import annotations

from typing import Any, Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from agents.envs.n2n_removal import render_student
from agents.envs.text import RENDER_MODES, check_render_mode
from agents.n2n.layers import FEATURES
from agents.n2n.task import SHRINK_FACTORS, N2NTask, task_from_options
from hwsim.errors import ConfigError, ShapeError

STATE_FEATURES = ("step/layers", "previous_action/max", "removed/layers", "kept_param_share")


class N2NSequentialEnv(gym.Env):
    """Walk a trained teacher's layers in order and decide, for each, to remove it or keep it at a
    shrink factor.

    **Episode.** ``layers`` steps, one decision per teacher layer. After the last one the student is
    built (removed layers left out, kept ones shrunk; freshly initialised), distilled for
    ``distill_epochs`` and scored; the episode then terminates.

    **Observation** (``Box`` in [0, 1], float32, ``11 + 4``): the current layer's features
    (:data:`agents.n2n.layers.FEATURES`), then ``STATE_FEATURES``: the step over the number of layers,
    the previous action over the largest action, the layers removed so far over the number of layers,
    and the share of the teacher's parameters decided so far that is kept (each decided layer's share
    times its factor, 0 when removed: an estimate, widths interact). After the last step the
    observation is all zeros.

    **Action** (``Discrete(1 + len(factors))``): 0 removes the layer; ``k >= 1`` keeps it with width
    factor ``factors[k - 1]`` (default 0.25, 0.5, 0.75, 1.0; any ``k >= 1`` simply keeps a pooling layer).

    **Reward**: 0 until the last step, then the N2N reward of the student (see
    :class:`agents.envs.n2n_removal.N2NRemovalEnv`), -1 above ``max_params_ratio`` when it is set.
    **Info** on the last step: the student's result as there; on other steps ``layer`` (the index of
    the next decision).

    **Options**: as :class:`agents.envs.n2n_removal.N2NRemovalEnv`, plus ``allow_remove=False`` to
    make action 0 mean the smallest factor instead of removal.

    **Rendering.** ``render_mode="ansi"``: as :class:`agents.envs.n2n_removal.N2NRemovalEnv`.
    """

    metadata: dict[str, Any] = {"render_modes": RENDER_MODES, "render_fps": 1}

    def __init__(self, teacher: str = "resnet", dataset: str = "digits", quick: bool = False, distill_epochs: int = 4,
                 reward: str = "params", target: str = "host", seed: int = 0,
                 factors: Sequence[float] = SHRINK_FACTORS, max_params_ratio: float | None = None,
                 allow_remove: bool = True,
                 task: N2NTask | None = None, render_mode: str | None = None) -> None:
        self.render_mode = check_render_mode(render_mode, self.metadata["render_modes"])
        self.last: tuple[float, dict[str, Any]] | None = None
        self.task = task_from_options(teacher, dataset, quick, distill_epochs, reward, target, seed, factors,
                                      max_params_ratio, task)
        self.allow_remove = bool(allow_remove)
        self.layer_feats = self.task.features()
        self.shares = self.layer_feats[:, FEATURES.index("param_share")]
        self.n_layers = len(self.task.arch)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(len(FEATURES) + len(STATE_FEATURES),), dtype=np.float32)
        self.action_space = spaces.Discrete(1 + len(self.task.factors))
        self.decisions: list[int] = []

    def _obs(self) -> np.ndarray:
        t = len(self.decisions)
        if t >= self.n_layers:
            return np.zeros(self.observation_space.shape, dtype=np.float32)
        prev = self.decisions[-1] / (self.action_space.n - 1) if self.decisions else 1.0
        removed = sum(1 for d in self.decisions if self._removes(d))
        decided = float(self.shares[:t].sum())
        kept = sum(s * self._factor(d) for s, d in zip(self.shares, self.decisions))
        state = [t / self.n_layers, prev, removed / self.n_layers, kept / decided if decided > 0 else 1.0]
        return np.clip(np.concatenate([self.layer_feats[t], np.asarray(state, dtype=np.float32)]), 0.0, 1.0)

    def _removes(self, action: int) -> bool:
        return self.allow_remove and action == 0

    def _factor(self, action: int) -> float:
        if self._removes(action):
            return 0.0
        return self.task.factors[max(action - 1, 0)]

    def student_arch(self, actions: Sequence[int]) -> Any:
        """The student a full sequence of per-layer ``actions`` describes."""
        keep = [not self._removes(int(a)) for a in actions]
        factors = [self._factor(int(a)) for a, k in zip(actions, keep) if k]
        return self.task.arch.remove(keep).shrink(factors)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """Start at the first layer of the teacher."""
        super().reset(seed=seed)
        self.decisions = []
        return self._obs(), {"layer": 0}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Decide for the current layer and move to the next."""
        a = int(np.asarray(action).reshape(-1)[0]) if np.ndim(action) else int(action)
        if not self.action_space.contains(a):
            raise ShapeError(f"action {action!r} is not in Discrete({self.action_space.n})")
        if len(self.decisions) >= self.n_layers:
            raise ConfigError("the episode is over; call reset() before stepping again")
        self.decisions.append(a)
        if len(self.decisions) < self.n_layers:
            return self._obs(), 0.0, False, False, {"layer": len(self.decisions)}
        reward, info = self.task.outcome(self.student_arch(self.decisions))
        self.last = (float(reward), info)
        return self._obs(), float(reward), True, False, info

    def render(self) -> str | None:
        """The teacher and the last student as text (``ansi``)."""
        return render_student(self)
