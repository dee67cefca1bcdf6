"""The local back end: jobs in this process, or in a pool of local worker processes.

One worker runs the jobs one after another in this process (today's behaviour, nothing to start).
More workers start that many worker processes for each run (or once for a :meth:`LocalBackend.session`),
forked from a clean server process that has imported the job's modules (``forkserver``: no state or
threads inherited from the driver, so a job computes the same in a worker as in this process), and
hand each the next job as it frees up.
"""

from __future__ import annotations

import multiprocessing as mp
import pickle
from contextlib import contextmanager
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Iterator

from hwsim.errors import ConfigError
from hwsim.jobs.job import Job
from hwsim.jobs.worker import execute

OnDone = Callable[[Job, dict[str, Any]], None]


def lost(message: str, error_type: str = "WorkerLost") -> dict[str, Any]:
    """The outcome of a job whose worker was lost (not an answer of the job itself)."""
    return {"ok": False, "where": {"node": "?"}, "wall_s": 0.0,
            "error": {"type": error_type, "message": message, "hwsim": False, "traceback": ""}}


class LocalBackend:
    """Run jobs here: ``workers=1`` in this process, more in that many worker processes; each job on
    ``threads`` threads."""

    name = "local"

    def __init__(self, workers: int = 1, threads: int = 1) -> None:
        if workers < 1:
            raise ConfigError("--jobs must be at least 1")
        self.workers = workers
        self.threads = threads
        self._keep = False
        self._pool: ProcessPoolExecutor | None = None

    def describe(self) -> str:
        """One line for people."""
        return "this process" if self.workers == 1 else f"{self.workers} local worker processes"

    @contextmanager
    def session(self) -> Iterator[None]:
        """Keep the worker processes from one :meth:`run` to the next for the block, so what a job function
        caches in its process (a task built once per config) serves the jobs of later runs too."""
        self._keep = True
        try:
            yield
        finally:
            self._keep = False
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None

    def run(self, jobs: list[Job], on_done: OnDone) -> None:
        """Run ``jobs``, calling ``on_done(job, outcome)`` in this process as each finishes."""
        if self.workers == 1 or (len(jobs) <= 1 and self._pool is None):
            for job in jobs:
                on_done(job, execute(job.fn, job.config, job.needs, None, self.threads))
            return
        for job in jobs[:1]:  # a job a worker process cannot receive fails here, with a clear message
            try:
                pickle.dumps(job.fn)
            except (pickle.PicklingError, AttributeError, TypeError) as exc:
                raise ConfigError(f"job function {job.fn_name} cannot be sent to a worker process ({exc}); "
                                  "use a module-level function or run with --jobs 1") from exc
        size = self.workers if self._keep else min(self.workers, len(jobs))
        pool = self._pool or ProcessPoolExecutor(max_workers=size, mp_context=worker_context(jobs))
        self._pool = pool if self._keep else None
        pending = {pool.submit(execute, j.fn, j.config, j.needs, None, self.threads): j for j in jobs}
        broken = False
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    job = pending.pop(fut)
                    try:
                        outcome = fut.result()
                    except BrokenProcessPool as exc:
                        broken = True
                        outcome = lost(f"a local worker process died while running this job ({exc})")
                    on_done(job, outcome)
        except BaseException:
            _stop_workers(pool)  # interrupted: the running jobs' results would be thrown away anyway
            broken = True
            raise
        finally:
            if broken or not self._keep:
                self._pool = None
                pool.shutdown(wait=not pending, cancel_futures=True)


def worker_context(jobs: list[Job]) -> Any:
    """The multiprocessing context of the worker processes: ``forkserver``, whose server process imports
    torch and the job functions' modules once (so each worker starts in milliseconds, yet inherits no
    threads or state of the driver), or ``spawn`` where there is no fork."""
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(sorted({"torch", "hwsim.jobs.worker", *(j.fn.__module__ for j in jobs)}))
    return ctx


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Terminate the pool's worker processes now (``shutdown`` alone waits for the running jobs; the
    executor has no public way to stop them before Python 3.14's ``terminate_workers``)."""
    stop = getattr(pool, "terminate_workers", None)
    if callable(stop):
        stop()
        return
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        proc.terminate()
