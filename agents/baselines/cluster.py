"""Classic job schedulers for :class:`agents.envs.cluster.ClusterSchedulingEnv`: FIFO, fair sharing and
shortest-job-first. Each reads the runnable stages (slots) and their jobs from ``info``; within a job
the runnable stage with the lowest index goes first."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def _action(info: dict[str, Any], slot: int, limit: int) -> np.ndarray:
    return np.array([slot, max(1, min(int(limit), int(info["num_idle"]))) - 1], dtype=np.int64)


def _filled(info: dict[str, Any]) -> np.ndarray:
    return np.flatnonzero(np.asarray(info["slot_job"]) >= 0)


class FIFO:
    """Spark's default: the earliest-arrived job with a runnable stage gets every idle executor."""

    name = "fifo"

    def reset(self) -> None:
        """FIFO keeps no state."""

    def act(self, obs: Any, info: dict[str, Any]) -> np.ndarray:
        """Serve the first slot (slots are in arrival order) with all idle executors."""
        return _action(info, int(_filled(info)[0]), info["num_idle"])


class Fair:
    """Fair sharing: each active job is entitled to ceil(N / active jobs) executors; the runnable job
    with the fewest executors is served first, up to its share (at least one executor, so no executor
    stays idle while a stage is runnable)."""

    name = "fair"

    def reset(self) -> None:
        """Fair sharing keeps no state."""

    def act(self, obs: Any, info: dict[str, Any]) -> np.ndarray:
        """Serve the poorest job up to its fair share."""
        filled = _filled(info)
        supply = np.asarray(info["slot_job_supply"])[filled]
        slot = int(filled[int(np.argmin(supply))])  # argmin takes the earliest on ties
        share = math.ceil(info["num_executors"] / max(1, info["num_active_jobs"]))
        return _action(info, slot, share - int(info["slot_job_supply"][slot]))


class ShortestJobFirst:
    """Shortest (remaining) job first: the runnable job with the least estimated remaining work
    (unfinished tasks x mean measured task duration) gets every idle executor."""

    name = "sjf"

    def reset(self) -> None:
        """SJF keeps no state."""

    def act(self, obs: Any, info: dict[str, Any]) -> np.ndarray:
        """Serve the job with the least remaining work with all idle executors."""
        filled = _filled(info)
        work = np.asarray(info["slot_job_work_s"])[filled]
        return _action(info, int(filled[int(np.argmin(work))]), info["num_idle"])


BASELINES = {cls.name: cls for cls in (FIFO, Fair, ShortestJobFirst)}
