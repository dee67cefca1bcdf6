"""The N2N reward: ``R = C (2 - C) x acc_student / acc_teacher`` with the compression
``C = 1 - cost_student / cost_teacher``; ``-1`` for a student that cannot be built, has more parameters
than the teacher, or (latency rewards) is slower than it.

The cost is the parameter count (``params``, the paper's reward), the estimated latency on an
``edge`` target (``latency-est``) or the latency measured by compiling for it (``latency``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hwsim.errors import ConfigError

REWARDS = ("params", "latency-est", "latency")
COST_FIELD = {"params": "params", "latency-est": "latency_est_s", "latency": "latency_s"}
INVALID = -1.0


def check_reward(kind: str) -> str:
    """``kind`` if it names a reward, else a :class:`ConfigError` listing them."""
    if kind not in REWARDS:
        raise ConfigError(f"unknown reward '{kind}'; choose one of {', '.join(REWARDS)}")
    return kind


def n2n_reward(cost_ratio: float, acc_ratio: float) -> float:
    """``C (2 - C) x acc_ratio`` with ``C = 1 - cost_ratio``; ``-1`` when the student costs more than the
    teacher."""
    c = 1.0 - float(cost_ratio)
    if c < 0.0:
        return INVALID
    return c * (2.0 - c) * float(acc_ratio)


@dataclass(frozen=True)
class RewardFn:
    """The reward of one kind, relative to a teacher's cost and validation accuracy."""

    kind: str
    teacher_cost: float
    teacher_acc: float

    def __post_init__(self) -> None:
        check_reward(self.kind)
        if not self.teacher_cost > 0 or not self.teacher_acc > 0:
            raise ConfigError("the teacher's cost and accuracy must be positive")

    def cost_ratio(self, student: Any) -> float:
        """The student's cost over the teacher's."""
        return float(getattr(student, COST_FIELD[self.kind])) / self.teacher_cost

    def __call__(self, student: Any) -> float:
        """Reward of an evaluated student (an object with ``valid``, ``val_acc`` and the cost attribute,
        e.g. :class:`agents.n2n.cache.StudentResult`)."""
        if not student.valid:
            return INVALID
        return n2n_reward(self.cost_ratio(student), float(student.val_acc) / self.teacher_acc)
