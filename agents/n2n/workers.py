"""The interface of a pool that evaluates students away from the calling process (its
implementations, process and Ray pools, are in :mod:`agents.n2n.rollouts`)."""

from __future__ import annotations

from typing import Protocol, Sequence

from agents.n2n.cache import StudentResult
from agents.n2n.layers import Arch


class RolloutPool(Protocol):
    """Evaluates students somewhere else than the calling process."""

    workers: int

    def evaluate(self, archs: Sequence[Arch]) -> list[StudentResult]:
        """Results of ``archs``, in order."""

    def close(self) -> None:
        """Stop the workers."""
