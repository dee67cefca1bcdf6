"""Parallel evaluation of students through the job runner (:mod:`hwsim.jobs`): each new student of an
update is one job (the task's config and the student's architecture), run in local worker processes
(``--workers N``) or as Ray tasks (``--ray [ADDRESS]``, Ray imported only then). One worker, the
default, evaluates in the calling process as before.

A worker builds the task of a config once (the teacher loaded from its cache, or trained there) and
keeps it for the next students it receives. Each student is distilled from its own seed, so its
result does not depend on which worker evaluated it. Each job runs PyTorch on ``threads`` threads.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import asdict, replace
from typing import Any, Mapping, Sequence

from agents.n2n.cache import StudentResult
from agents.n2n.distill import DistillConfig
from agents.n2n.latency import LatencyModel
from agents.n2n.layers import Arch, arch_from_json
from agents.n2n.task import N2NTask, TaskConfig
from agents.n2n.workers import RolloutPool  # noqa: F401  (the pools' interface, importable from here too)
from hwsim.jobs import Backend, Job, LocalBackend, run_jobs
from hwsim.jobs.job import canonical_json

_WORKER_TASKS: dict[str, N2NTask] = {}
"""The tasks this (worker) process has built, by the canonical JSON of their config."""


def task_config_json(cfg: TaskConfig) -> dict[str, Any]:
    """``cfg`` as JSON data (what a student job carries)."""
    return asdict(replace(cfg, factors=list(cfg.factors)))


def task_config_from_json(data: Mapping[str, Any]) -> TaskConfig:
    """The :class:`TaskConfig` of :func:`task_config_json` output."""
    latency = data.get("latency_model")
    return TaskConfig(**{**data, "distill": DistillConfig(**data["distill"]), "factors": tuple(data["factors"]),
                         "latency_model": LatencyModel(**latency) if latency else None})


def evaluate_student(config: dict[str, Any]) -> dict[str, Any]:
    """Job: the :class:`StudentResult` (as JSON) of ``config["arch"]`` evaluated on the task of
    ``config["task"]`` (a :func:`task_config_json`), which this process builds on its first job."""
    key = canonical_json(config["task"])
    task = _WORKER_TASKS.get(key)
    if task is None:
        task = _WORKER_TASKS[key] = N2NTask(task_config_from_json(config["task"]))
    return task.evaluate(arch_from_json(config["arch"])).to_json()


class JobsPool:
    """Students evaluated as jobs on ``backend``; a back end with a session (Ray) is connected on the first
    evaluation and stays connected until :meth:`close`. ``placement``: students evaluated per host and node."""

    def __init__(self, config: TaskConfig, backend: Backend) -> None:
        self.backend = backend
        self.workers = int(getattr(backend, "workers", None) or 0)
        self._task = task_config_json(config)
        self._session: ExitStack | None = None
        self.placement: dict[str, int] = {}

    def evaluate(self, archs: Sequence[Arch]) -> list[StudentResult]:
        """Results of ``archs``, in order (one job per student)."""
        if self._session is None:
            self._session = ExitStack()
            session = getattr(self.backend, "session", None)
            if session is not None:
                self._session.enter_context(session())
        jobs = [Job(evaluate_student, {"task": self._task, "arch": a.to_json()}, label=a.key()) for a in archs]
        report = run_jobs(jobs, self.backend, desc="students")
        for row in report.placement():
            where = f"{row['host']} node {row['node']}"
            self.placement[where] = self.placement.get(where, 0) + row["jobs"]
        return [StudentResult.from_json(r) for r in report.results]

    def close(self) -> None:
        """Leave the back end's session (a Ray started for the search is shut down)."""
        if self._session is not None:
            self._session.close()
            self._session = None


def make_pool(config: TaskConfig, backend: Backend | None) -> JobsPool | None:
    """A pool that evaluates the students of ``config`` on ``backend``, or ``None`` (evaluate in this
    process) for no back end or a local one with one worker."""
    if backend is None or (isinstance(backend, LocalBackend) and backend.workers == 1):
        return None
    return JobsPool(config, backend)
