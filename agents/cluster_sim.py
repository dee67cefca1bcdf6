"""A Spark-like cluster as a discrete-event simulator, with Decima's scheduling semantics.

Jobs (TPC-H DAGs of stages, each stage a set of identical tasks) arrive over time. ``N`` executors
run one task at a time. A stage is *runnable* when all its parent stages have finished and it has
tasks that no executor runs or is moving to run. Whenever some executor is idle and some stage is
runnable, the scheduler is asked for a decision: a runnable stage and a limit, and up to ``limit``
idle executors are sent to that stage (never more than it has unclaimed tasks). Decisions repeat
until no executor is idle or nothing is runnable; then simulated time runs to the next event (task
completion, executor arrival, job arrival) that creates a new decision.

An executor keeps working on its stage while the stage has unclaimed tasks; otherwise it goes idle
at its job. An executor sent to another job (or out of the free pool) arrives after the moving
delay. Task durations are drawn from the measurements: the first task an executor runs for a job
uses the fresh-executor durations (or first wave + warm-up delay when there are none), a task that
follows one of the same stage uses the later-wave durations, otherwise the first-wave durations,
all at the executor level nearest the job's executor count. When a job's last stage finishes, its
executors return to the free pool.

Cost: the job-time integral, ``sum over jobs of time in the system``; once every job has finished
it equals the sum of job completion times.
"""

from __future__ import annotations

import heapq
import random
from typing import Sequence

from agents.tpch import JobTemplate, StageTemplate, executor_level

_ARRIVAL, _TASK_DONE, _EXECUTOR_ARRIVES = 0, 1, 2


class Stage:
    """A stage of a running job: task bookkeeping and dependencies."""

    __slots__ = ("job", "index", "tmpl", "num_tasks", "launched", "finished", "moving", "parents_left",
                 "last_duration_ms")

    def __init__(self, job: Job, index: int, tmpl: StageTemplate, parents: int) -> None:
        self.job, self.index, self.tmpl = job, index, tmpl
        self.num_tasks = tmpl.num_tasks
        self.launched = self.finished = self.moving = 0
        self.parents_left = parents
        self.last_duration_ms = 0.0

    @property
    def demand(self) -> int:
        """Tasks that no executor runs, ran, or is moving to run."""
        return self.num_tasks - self.launched - self.moving

    @property
    def done(self) -> bool:
        """Every task has finished."""
        return self.finished == self.num_tasks


class Job:
    """A job in the system (arrived or not yet)."""

    __slots__ = ("id", "tmpl", "arrival_ms", "stages", "stages_left", "local", "incoming", "completed_ms",
                 "work_left_ms", "active")

    def __init__(self, job_id: int, tmpl: JobTemplate, arrival_ms: float) -> None:
        self.id, self.tmpl, self.arrival_ms = job_id, tmpl, float(arrival_ms)
        self.stages = [Stage(self, i, s, len(tmpl.parents[i])) for i, s in enumerate(tmpl.stages)]
        self.stages_left = len(self.stages)
        self.local = 0  # executors at this job (running or idle)
        self.incoming = 0  # executors moving to this job
        self.completed_ms: float | None = None
        self.work_left_ms = tmpl.total_work_ms
        self.active = False

    @property
    def supply(self) -> int:
        """Executors the job has or will have: local plus moving to it."""
        return self.local + self.incoming


class Executor:
    """One executor: where it is, what it runs, and what it ran last."""

    __slots__ = ("id", "job", "stage", "last_job", "last_stage")

    def __init__(self, executor_id: int) -> None:
        self.id = executor_id
        self.job: Job | None = None
        self.stage: Stage | None = None
        self.last_job: Job | None = None
        self.last_stage: Stage | None = None


class ClusterSimulator:
    """The event loop. ``reset`` loads a job sequence and runs to the first decision; then alternate
    :meth:`runnable` / :meth:`assign` and :meth:`advance` (when :attr:`needs_decision` is false)."""

    def __init__(self, num_executors: int, moving_delay_ms: float = 2000.0, warmup_delay_ms: float = 1000.0) -> None:
        self.num_executors = int(num_executors)
        self.moving_delay_ms = float(moving_delay_ms)
        self.warmup_delay_ms = float(warmup_delay_ms)
        self.rng = random.Random(0)
        self.jobs: list[Job] = []
        self.executors: list[Executor] = []
        self.events: list[tuple[float, int, int, object]] = []
        self.now = 0.0
        self.job_time_ms = 0.0
        self.active_jobs: dict[int, Job] = {}
        self.ready: set[Stage] = set()
        self.idle: dict[Job | None, list[Executor]] = {}
        self.num_idle = 0
        self.completed = 0
        self.jct_sum_ms = 0.0
        self._seq = 0

    # ----------------------------------------------------------------- set-up and time
    def reset(self, jobs: Sequence[tuple[JobTemplate, float]], rng: random.Random) -> None:
        """Load ``jobs`` as (template, arrival ms) and run to the first decision."""
        self.rng = rng
        self.jobs = [Job(i, tmpl, t) for i, (tmpl, t) in enumerate(jobs)]
        self.executors = [Executor(i) for i in range(self.num_executors)]
        self.events, self._seq = [], 0
        self.now = self.job_time_ms = 0.0
        self.active_jobs, self.ready = {}, set()
        self.idle = {None: list(reversed(self.executors))}
        self.num_idle = self.num_executors
        self.completed = 0
        self.jct_sum_ms = 0.0
        for job in self.jobs:
            self._push(job.arrival_ms, _ARRIVAL, job)
        self.advance()

    def _push(self, time: float, kind: int, payload: object) -> None:
        self._seq += 1
        heapq.heappush(self.events, (time, self._seq, kind, payload))

    @property
    def done(self) -> bool:
        """Every job has finished."""
        return self.completed == len(self.jobs)

    @property
    def needs_decision(self) -> bool:
        """Some executor is idle and some stage is runnable."""
        return self.num_idle > 0 and bool(self.ready)

    def advance(self) -> float:
        """Run events until a decision is needed or every job is done; returns the job-time
        integral (job x ms) accumulated on the way."""
        before = self.job_time_ms
        events = self.events
        while not (self.num_idle > 0 and self.ready) and events:
            time, _, kind, payload = heapq.heappop(events)
            self.job_time_ms += len(self.active_jobs) * (time - self.now)
            self.now = time
            if kind == _TASK_DONE:
                self._task_done(payload)  # type: ignore[arg-type]
            elif kind == _EXECUTOR_ARRIVES:
                self._executor_arrives(*payload)  # type: ignore[misc]
            else:
                self._job_arrives(payload)  # type: ignore[arg-type]
        return self.job_time_ms - before

    # ----------------------------------------------------------------- decisions
    def runnable(self) -> list[Stage]:
        """Runnable stages, by job arrival then stage index."""
        return sorted(self.ready, key=lambda s: (s.job.id, s.index))

    def assign(self, stage: Stage, limit: int) -> int:
        """Send up to ``limit`` idle executors to ``stage`` (local ones first, then free, then others
        idle at other jobs); returns how many went."""
        if stage not in self.ready:
            raise ValueError("stage is not runnable")
        count = min(int(limit), self.num_idle, stage.demand)
        job = stage.job
        for _ in range(count):
            ex = self._pop_idle(job)
            if ex.job is job:  # already at the job: starts at once
                self._launch(ex, stage)
            else:
                self._send(ex, stage)
        self._touch(stage)
        return count

    def _pop_idle(self, prefer: Job) -> Executor:
        for key in (prefer, None):
            pool = self.idle.get(key)
            if pool:
                self.num_idle -= 1
                return pool.pop()
        for pool in self.idle.values():
            if pool:
                self.num_idle -= 1
                return pool.pop()
        raise RuntimeError("no idle executor")  # callers check num_idle first

    def _make_idle(self, ex: Executor) -> None:
        ex.stage = None
        self.idle.setdefault(ex.job, []).append(ex)
        self.num_idle += 1

    def _touch(self, stage: Stage) -> None:
        if stage.parents_left == 0 and stage.job.active and stage.demand > 0:
            self.ready.add(stage)
        else:
            self.ready.discard(stage)

    # ----------------------------------------------------------------- executors and tasks
    def _send(self, ex: Executor, stage: Stage) -> None:
        if ex.job is not None:
            ex.job.local -= 1
        ex.job = None
        stage.moving += 1
        stage.job.incoming += 1
        self._push(self.now + self.moving_delay_ms, _EXECUTOR_ARRIVES, (ex, stage))

    def _launch(self, ex: Executor, stage: Stage) -> None:
        job = stage.job
        tmpl = stage.tmpl
        level = executor_level(tmpl.levels, job.local, self.rng.random())
        if ex.last_job is not job:
            duration = self._draw(tmpl.fresh, level, 0.0) or self._draw(tmpl.first_wave, level, self.warmup_delay_ms)
        elif ex.last_stage is stage:
            duration = self._draw(tmpl.rest_wave, level, 0.0) or self._draw(tmpl.first_wave, level, 0.0)
        else:
            duration = self._draw(tmpl.first_wave, level, 0.0) or self._draw(tmpl.fresh, level, 0.0)
        if not duration:
            duration = tmpl.mean_ms
        stage.launched += 1
        stage.last_duration_ms = duration
        ex.stage, ex.last_job, ex.last_stage = stage, job, stage
        self._push(self.now + duration, _TASK_DONE, ex)

    def _draw(self, table: dict[int, tuple[float, ...]], level: int, extra: float) -> float:
        values = table.get(level)
        if not values:
            return 0.0
        return values[int(self.rng.random() * len(values))] + extra

    def _executor_arrives(self, ex: Executor, stage: Stage) -> None:
        job = stage.job
        stage.moving -= 1
        job.incoming -= 1
        if job.completed_ms is not None:  # the job finished while the executor was on its way
            self._make_idle(ex)
            return
        ex.job = job
        job.local += 1
        if stage.num_tasks - stage.launched - stage.moving > 0:
            self._launch(ex, stage)
            self._touch(stage)
            return
        backup = next((s for s in job.stages if s in self.ready), None)
        if backup is not None:
            self._launch(ex, backup)
            self._touch(backup)
        else:
            self._make_idle(ex)

    def _task_done(self, ex: Executor) -> None:
        stage = ex.stage
        job = stage.job
        stage.finished += 1
        job.work_left_ms -= stage.tmpl.mean_ms
        if stage.num_tasks - stage.launched - stage.moving > 0:  # keep working on the same stage
            self._launch(ex, stage)
            self._touch(stage)
            return
        self._make_idle(ex)
        if not stage.done:
            return
        job.stages_left -= 1
        for child in job.tmpl.children[stage.index]:
            nxt = job.stages[child]
            nxt.parents_left -= 1
            self._touch(nxt)
        if job.stages_left == 0:
            self._job_completes(job)

    def _job_arrives(self, job: Job) -> None:
        job.active = True
        self.active_jobs[job.id] = job
        for stage in job.stages:
            self._touch(stage)

    def _job_completes(self, job: Job) -> None:
        job.completed_ms = self.now
        job.active = False
        del self.active_jobs[job.id]
        self.completed += 1
        self.jct_sum_ms += self.now - job.arrival_ms
        pool = self.idle.pop(job, [])
        for ex in pool:
            ex.job = None
        self.idle.setdefault(None, []).extend(pool)
        job.local = 0

    # ----------------------------------------------------------------- results
    @property
    def mean_jct_s(self) -> float:
        """Mean completion time (s) of the finished jobs (0 before the first finishes)."""
        return self.jct_sum_ms / self.completed / 1000.0 if self.completed else 0.0

    def completion_times_s(self) -> list[float]:
        """Completion time (s) of every finished job, in arrival order."""
        return [(j.completed_ms - j.arrival_ms) / 1000.0 for j in self.jobs if j.completed_ms is not None]
