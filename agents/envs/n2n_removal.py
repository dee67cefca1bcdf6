"""N2N stage 1, layer removal, as a one-step gymnasium environment (the whole action at once, as in
Ashok et al. 2018)."""

from __future__ import annotations

from typing import Any, Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from agents.envs.text import RENDER_MODES, ansi_text, check_render_mode
from agents.n2n.layers import FEATURES
from agents.n2n.task import SHRINK_FACTORS, N2NTask, task_from_options
from hwsim.errors import ShapeError


class N2NRemovalEnv(gym.Env):
    """Choose which layers of a trained teacher to remove.

    **Episode.** One step: the agent sees the teacher and answers with a keep/remove flag per layer;
    the student is built from the kept layers (freshly initialised, input channels following what is
    left), distilled from the teacher for ``distill_epochs`` and scored. The episode then terminates.

    **Observation** (``Box`` in [0, 1], float32, ``(layers x 11,)``): per teacher layer, the features of
    :data:`agents.n2n.layers.FEATURES`: kind one-hot (conv, res, pool, fc), kernel, stride, padding,
    output and input width (log2), input size (log2), share of the parameters; flattened layer by
    layer (``obs.reshape(layers, 11)``; 1-D so that SB3's checker and MLP policies take it as it is).

    **Action** (``MultiBinary(layers)``): 1 keeps the layer, 0 removes it. The classifier always stays.

    **Reward**: ``C (2 - C) x acc_student / acc_teacher`` (validation accuracies) with
    ``C = 1 - cost_student / cost_teacher``; the cost is the parameter count (``reward="params"``), the
    estimated latency on the ``edge`` ``target`` (``"latency-est"``) or the latency measured by compiling
    for it (``"latency"``). ``-1`` for a student that cannot be built or has more parameters (or, for
    latency, is slower) than the teacher.

    **Info**: the student's architecture key and description, ``valid`` and ``reason``, ``params``,
    ``macs``, ``val_acc``, ``test_acc``, latencies, ``params_ratio``, ``cost_ratio``, ``students_cached``.
    Evaluated students are cached by architecture, so a repeated action costs nothing.

    **Options**: ``teacher`` (cnn, resnet), ``dataset`` (digits, mnist1d), ``quick`` (small teacher),
    ``distill_epochs``, ``reward``, ``target``, ``seed`` (student initialisation), ``factors`` (of the
    shrink variants), ``max_params_ratio`` (a size constraint on the *final* student: it applies in
    the shrink and sequential environments, not in this base-finding stage), or ``task``: an
    :class:`agents.n2n.task.N2NTask` to share a teacher and cache.

    **Rendering.** ``render_mode="ansi"``: the teacher and the last student's size, accuracy and reward.
    """

    metadata: dict[str, Any] = {"render_modes": RENDER_MODES, "render_fps": 1}

    def __init__(self, teacher: str = "resnet", dataset: str = "digits", quick: bool = False, distill_epochs: int = 4,
                 reward: str = "params", target: str = "host", seed: int = 0,
                 factors: Sequence[float] = SHRINK_FACTORS, max_params_ratio: float | None = None,
                 task: N2NTask | None = None, render_mode: str | None = None) -> None:
        self.render_mode = check_render_mode(render_mode, self.metadata["render_modes"])
        self.last: tuple[float, dict[str, Any]] | None = None
        self.task = task_from_options(teacher, dataset, quick, distill_epochs, reward, target, seed, factors,
                                      max_params_ratio, task)
        self.features = self.task.features()
        layers = len(self.task.arch)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(layers * len(FEATURES),), dtype=np.float32)
        self.action_space = spaces.MultiBinary(layers)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """Show the full teacher."""
        super().reset(seed=seed)
        return self.features.reshape(-1).copy(), {"teacher": self.task.arch.key()}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Keep (1) or remove (0) each layer; the episode ends with the student's reward."""
        keep = np.asarray(action).reshape(-1)
        if keep.shape[0] != self.action_space.n:
            raise ShapeError(f"the action needs {self.action_space.n} keep flags, got shape {np.shape(action)}")
        reward, info = self.task.outcome(self.task.removal_arch(keep.astype(bool).tolist()), constrained=False)
        self.last = (float(reward), info)
        return self.features.reshape(-1).copy(), float(reward), True, False, info

    def render(self) -> str | None:
        """The teacher and the last student as text (``ansi``)."""
        return render_student(self)


def render_student(env: Any) -> str | None:
    """The ``ansi`` picture of an N2N environment ``env``: its teacher and its last student (``env.last``
    holds the last ``(reward, info)``)."""
    if env.render_mode != "ansi":
        return None
    fields: dict[str, Any] = {"teacher": env.task.arch.key()}
    if env.last is not None:
        reward, info = env.last
        fields.update({k: info[k] for k in ("key", "params_ratio", "val_acc", "valid", "reason") if k in info})
        fields["reward"] = reward
    return ansi_text("N2N compression", fields)
