"""Cluster job scheduling (Decima semantics) on TPC-H job DAGs as a gymnasium environment."""

from __future__ import annotations

import random
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from agents.cluster_sim import ClusterSimulator, Stage
from agents.envs.text import RENDER_MODES, ansi_text, check_render_mode
from agents.tpch import QUERY_SIZES, sample_job_sequence
from hwsim.errors import ConfigError

SLOT_FEATURES = ("filled", "unclaimed_tasks/100", "mean_task_s/10", "stage_work_s/100", "job_work_s/1000",
                 "job_executors/N", "job_idle_executors/N", "job_age_s/100", "job_stages_left/20")
GLOBAL_FEATURES = ("idle_executors/N", "active_jobs/50", "free_pool_executors/N", "hidden_stages/slots")
FEATURE_CAP = 1e4  # observation values are clipped here so the space is bounded
DAG_NODE_FEATURES = ("unclaimed_tasks", "unfinished_tasks", "mean_task_s", "runnable", "finished")


class JobGraph(NamedTuple):
    """The DAGs of the active jobs: ``nodes`` (one row per stage, ``DAG_NODE_FEATURES``), ``edges``
    (parent, child rows into ``nodes``), ``job_ptr`` (the stages of the ``j``-th active job are rows
    ``job_ptr[j]:job_ptr[j+1]``) and ``slot_node`` (each action slot's row, -1 when empty)."""

    nodes: np.ndarray
    edges: np.ndarray
    job_ptr: np.ndarray
    slot_node: np.ndarray


class ClusterSchedulingEnv(gym.Env):
    """Schedule TPC-H jobs arriving at a Spark-like cluster of ``num_executors`` executors so that
    jobs finish soon (see :mod:`agents.cluster_sim` for the simulated cluster).

    **Episode.** ``num_jobs`` jobs, each a random TPC-H query at a random input size, arrive as a
    Poisson process (first at time 0, mean gap ``mean_interarrival_s``). A step is one scheduling
    decision; time advances only when no decision is pending. The episode terminates when every job
    has finished. The job sequence depends only on the seed, so two policies reset with the same
    seed schedule the same jobs.

    **Observation** (``Box``, float32, ``max_slots x 9 + 4`` values): one row per slot for the runnable
    stages in job-arrival order (``SLOT_FEATURES``: filled flag, the stage's unclaimed tasks, mean
    task duration and remaining work, its job's remaining work, executors, idle executors, age and
    stages left), zeros for empty slots, then ``GLOBAL_FEATURES``; values are clipped into
    [0, 1e4]. Runnable stages beyond ``max_slots`` are not shown (their count is a global feature).

    **Action** (``MultiDiscrete([max_slots, num_executors])``): the slot of the stage to serve, and
    the limit minus one: up to ``limit`` idle executors go to the stage (never more than it has
    unclaimed tasks, never more than are idle). ``action_masks()`` gives the valid choices per
    dimension, as sb3-contrib's MaskablePPO expects: filled slots, and limits up to the idle count.
    An empty slot is replaced by slot 0 and a limit above the idle count is clipped;
    ``info["action_valid"]`` is then false.

    **Reward**: minus the job-time integral since the last decision (sum over jobs in the system
    of the time they spent there, in seconds) times ``reward_scale``. The undiscounted return of a
    finished episode is ``-reward_scale x sum of job completion times``.

    **Info**: ``num_idle``, ``num_executors``, ``num_active_jobs``, ``hidden_stages``, ``wall_time_s``,
    ``jobs_done``, ``mean_jct_s`` (of the finished jobs; 0 before any), ``action_mask``,
    ``action_valid``; per slot (``-1``/``0`` when empty) ``slot_job``, ``slot_stage``, ``slot_tasks``,
    ``slot_job_supply``, ``slot_job_work_s``, ``slot_job_arrival_s``; and, with ``graph_info=True``, ``dag``: a
    :class:`JobGraph` of the active jobs for graph encoders (a tuple, so vector environments keep it
    per sub-environment whatever its size).

    **Rendering.** ``render_mode="ansi"``: the simulated time, executors, jobs and runnable stages.
    """

    metadata: dict[str, Any] = {"render_modes": RENDER_MODES, "render_fps": 4}

    def __init__(self, num_executors: int = 50, num_jobs: int = 200, mean_interarrival_s: float = 25.0,
                 moving_delay_ms: float = 2000.0, warmup_delay_ms: float = 1000.0, max_slots: int = 64,
                 reward_scale: float = 1e-3, query_sizes: tuple[str, ...] = QUERY_SIZES,
                 graph_info: bool = True, render_mode: str | None = None) -> None:
        self.render_mode = check_render_mode(render_mode, self.metadata["render_modes"])
        if num_executors < 1 or num_jobs < 1 or max_slots < 1 or mean_interarrival_s <= 0:
            raise ConfigError("num_executors, num_jobs and max_slots must be >= 1 and mean_interarrival_s > 0")
        self.num_executors, self.num_jobs, self.max_slots = int(num_executors), int(num_jobs), int(max_slots)
        self.mean_interarrival_ms = float(mean_interarrival_s) * 1000.0
        self.reward_scale = float(reward_scale)
        self.query_sizes = tuple(query_sizes)
        self.graph_info = bool(graph_info)
        self.sim = ClusterSimulator(self.num_executors, moving_delay_ms, warmup_delay_ms)
        size = self.max_slots * len(SLOT_FEATURES) + len(GLOBAL_FEATURES)
        self.observation_space = spaces.Box(0.0, FEATURE_CAP, shape=(size,), dtype=np.float32)
        self.action_space = spaces.MultiDiscrete([self.max_slots, self.num_executors])
        self._slots: list[Stage] = []
        self._hidden = 0

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a new job sequence on an idle cluster."""
        super().reset(seed=seed)
        jobs = sample_job_sequence(self.np_random, self.num_jobs, self.mean_interarrival_ms, self.query_sizes)
        self.sim.reset(jobs, random.Random(int(self.np_random.integers(2**63))))
        obs, info = self._observe()
        info["action_valid"] = True
        return obs, info

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Schedule stage slot ``action[0]`` with a parallelism limit of ``action[1] + 1`` executors."""
        slot, limit = int(action[0]), int(action[1]) + 1
        valid = 0 <= slot < len(self._slots) and 1 <= limit <= self.sim.num_idle
        if not 0 <= slot < len(self._slots):
            slot = 0
        cost_ms = 0.0
        if self._slots:
            self.sim.assign(self._slots[slot], max(1, limit))
            if not self.sim.needs_decision:
                cost_ms = self.sim.advance()
        terminated = self.sim.done
        obs, info = self._observe()
        info["action_valid"] = valid
        return obs, -cost_ms / 1000.0 * self.reward_scale, terminated, False, info

    def action_masks(self) -> np.ndarray:
        """Valid choices per action dimension, concatenated: ``max_slots`` slots, then limits 1..N."""
        mask = np.zeros(self.max_slots + self.num_executors, dtype=bool)
        mask[:len(self._slots)] = True
        mask[self.max_slots:self.max_slots + min(self.sim.num_idle, self.num_executors)] = True
        if not self._slots:  # episode over: any choice is a no-op, keep one valid per dimension
            mask[0] = mask[self.max_slots] = True
        return mask

    # ----------------------------------------------------------------- observation
    def _observe(self) -> tuple[np.ndarray, dict[str, Any]]:
        sim = self.sim
        runnable = sim.runnable() if sim.needs_decision else []
        self._slots = runnable[:self.max_slots]
        self._hidden = len(runnable) - len(self._slots)
        n, k = float(self.num_executors), self.max_slots
        now = sim.now
        rows, slot_job, slot_stage, slot_tasks, supply, work, arrival = [], [], [], [], [], [], []
        for stage in self._slots:
            job = stage.job
            mean_s = stage.tmpl.mean_ms / 1000.0
            demand = stage.demand
            rows.append((1.0, demand / 100.0, mean_s / 10.0, demand * mean_s / 100.0, job.work_left_ms / 1e6,
                         job.supply / n, len(sim.idle.get(job, ())) / n, (now - job.arrival_ms) / 1e5,
                         job.stages_left / 20.0))
            slot_job.append(job.id)
            slot_stage.append(stage.index)
            slot_tasks.append(demand)
            supply.append(job.supply)
            work.append(job.work_left_ms / 1000.0)
            arrival.append(job.arrival_ms / 1000.0)
        pad = k - len(rows)
        obs = np.zeros(k * len(SLOT_FEATURES) + len(GLOBAL_FEATURES), dtype=np.float32)
        if rows:
            obs[:len(rows) * len(SLOT_FEATURES)] = np.array(rows, dtype=np.float32).ravel()
        obs[-len(GLOBAL_FEATURES):] = (sim.num_idle / n, len(sim.active_jobs) / 50.0,
                                       len(sim.idle.get(None, ())) / n, self._hidden / k)
        np.clip(obs, 0.0, FEATURE_CAP, out=obs)
        info: dict[str, Any] = {
            "num_idle": sim.num_idle, "num_executors": self.num_executors, "num_active_jobs": len(sim.active_jobs),
            "hidden_stages": self._hidden, "wall_time_s": now / 1000.0, "jobs_done": sim.completed,
            "mean_jct_s": sim.mean_jct_s, "action_mask": self.action_masks(),
            "slot_job": np.array(slot_job + [-1] * pad, dtype=np.int64),
            "slot_stage": np.array(slot_stage + [-1] * pad, dtype=np.int64),
            "slot_tasks": np.array(slot_tasks + [0] * pad, dtype=np.int64),
            "slot_job_supply": np.array(supply + [0] * pad, dtype=np.int64),
            "slot_job_work_s": np.array(work + [0.0] * pad), "slot_job_arrival_s": np.array(arrival + [0.0] * pad)}
        if self.graph_info:
            info["dag"] = self._dag()
        return obs, info

    def _dag(self) -> JobGraph:
        """Every stage of the active jobs as a graph, for graph encoders."""
        sim = self.sim
        ready = sim.ready
        rows: list[tuple[float, float, float, float, float]] = []
        edges, ptr, first = [], [0], {}
        for job in sim.active_jobs.values():
            first[job.id] = len(rows)
            rows += [(s.demand, s.num_tasks - s.finished, s.tmpl.mean_ms / 1000.0, float(s in ready),
                      float(s.finished == s.num_tasks)) for s in job.stages]
            edges.append(job.tmpl.edges + ptr[-1])
            ptr.append(len(rows))
        slot_node = np.full(self.max_slots, -1, dtype=np.int64)
        for i, stage in enumerate(self._slots):
            slot_node[i] = first[stage.job.id] + stage.index
        return JobGraph(np.array(rows, dtype=np.float32).reshape(-1, len(DAG_NODE_FEATURES)),
                        np.concatenate(edges) if edges else np.zeros((0, 2), dtype=np.int64),
                        np.array(ptr, dtype=np.int64), slot_node)

    def render(self) -> str | None:
        """The cluster's state as text (``ansi``)."""
        if self.render_mode != "ansi":
            return None
        sim = self.sim
        return ansi_text(f"cluster at {sim.now / 1000.0:.1f} s", {
            "idle_executors": f"{sim.num_idle} of {self.num_executors}", "active_jobs": len(sim.active_jobs),
            "jobs_done": f"{sim.completed} of {self.num_jobs}", "mean_jct_s": sim.mean_jct_s,
            "runnable_stages": [(s.job.id, s.index, s.demand) for s in self._slots[:8]]
            + (["..."] if len(self._slots) > 8 else [])})
