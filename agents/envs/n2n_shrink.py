"""N2N stage 2, layer shrinkage, as a one-step gymnasium environment (the whole action at once, as in
Ashok et al. 2018)."""

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


class N2NShrinkEnv(gym.Env):
    """Choose how much to shrink each layer of a network made from a trained teacher.

    **Episode.** One step: the agent sees the base network (the teacher, or the teacher with the layers
    of ``base_keep`` removed: the best student of stage 1) and answers with a shrink factor per layer;
    each conv, residual or fc layer keeps ``round(width x factor)`` channels (at least 1). The student is
    built fresh, distilled for ``distill_epochs`` and scored; the episode then terminates.

    **Observation** (``Box`` in [0, 1], float32, ``(layers x 11,)``): the base network's per-layer
    features (:data:`agents.n2n.layers.FEATURES`), flattened layer by layer.

    **Action** (``MultiDiscrete([len(factors)] x layers)``): an index into ``factors`` (default
    0.25, 0.5, 0.75, 1.0) per layer; the entries of pooling layers are ignored.

    **Reward** and **info**: as :class:`agents.envs.n2n_removal.N2NRemovalEnv` (the cost ratio is
    always relative to the teacher, not to the base network), and -1 for a student with more than
    ``max_params_ratio`` of the teacher's parameters when that constraint is set.

    **Rendering.** ``render_mode="ansi"``: as :class:`agents.envs.n2n_removal.N2NRemovalEnv`.
    """

    metadata: dict[str, Any] = {"render_modes": RENDER_MODES, "render_fps": 1}

    def __init__(self, teacher: str = "resnet", dataset: str = "digits", quick: bool = False, distill_epochs: int = 4,
                 reward: str = "params", target: str = "host", seed: int = 0,
                 factors: Sequence[float] = SHRINK_FACTORS, max_params_ratio: float | None = None,
                 base_keep: Sequence[int] | None = None,
                 task: N2NTask | None = None, render_mode: str | None = None) -> None:
        self.render_mode = check_render_mode(render_mode, self.metadata["render_modes"])
        self.last: tuple[float, dict[str, Any]] | None = None
        self.task = task_from_options(teacher, dataset, quick, distill_epochs, reward, target, seed, factors,
                                      max_params_ratio, task)
        self.base = self.task.arch if base_keep is None else self.task.removal_arch(list(base_keep))
        if len(self.base) == 0:
            raise ConfigError("base_keep removes every layer; keep at least one to shrink")
        self.features = self.task.features(self.base)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(len(self.base) * len(FEATURES),), dtype=np.float32)
        self.action_space = spaces.MultiDiscrete([len(self.task.factors)] * len(self.base))

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """Show the base network (the teacher, or the teacher without the layers stage 1 removed)."""
        super().reset(seed=seed)
        return self.features.reshape(-1).copy(), {"base": self.base.key(), "factors": self.task.factors}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Pick a shrink factor per layer; the episode ends with the student's reward."""
        idx = np.asarray(action).reshape(-1)
        if idx.shape[0] != len(self.base):
            raise ShapeError(f"the action needs {len(self.base)} factor indices, got shape {np.shape(action)}")
        reward, info = self.task.outcome(self.task.shrink_arch(idx.tolist(), self.base))
        self.last = (float(reward), info)
        return self.features.reshape(-1).copy(), float(reward), True, False, info

    def render(self) -> str | None:
        """The teacher and the last student as text (``ansi``)."""
        return render_student(self)
