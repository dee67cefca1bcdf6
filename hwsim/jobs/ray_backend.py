"""The Ray back end: each job a Ray task, on a local Ray started on demand or on an existing cluster.

Ray schedules the tasks on whatever nodes have free CPUs and retries a task whose worker process or
node died (``max_retries``); a job that raised is not retried (it would raise again). The data sets
the jobs read are put once into Ray's object store and pulled only by a node that lacks them
(:func:`hwsim.jobs.worker.ensure_data`). Ray is imported only here, only when this back end is used.
"""

from __future__ import annotations

import os
import time
from collections import deque
from contextlib import contextmanager
from typing import Any, Iterator

from hwsim.data import export_files
from hwsim.errors import ConfigError
from hwsim.jobs.errors import RAY_INSTALL_HINT, BackendUnavailableError
from hwsim.jobs.job import Job
from hwsim.jobs.local import OnDone, lost
from hwsim.jobs.worker import execute


def import_ray() -> Any:
    """The ``ray`` module, or a :class:`BackendUnavailableError` saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise BackendUnavailableError(f"--ray needs Ray, which is not installed here: {RAY_INSTALL_HINT} "
                                      "(or run without --ray on this machine's processes)") from exc
    return ray


class RayBackend:
    """Jobs as Ray tasks. ``address``: a cluster to join (``host:port``, ``auto``, ``ray://host:10001``);
    empty: ``$RAY_ADDRESS`` if set, else a local Ray started for the run with ``local_cpus`` CPUs.
    ``workers`` caps the jobs in flight at once (default: as many as the cluster takes). Each job
    reserves ``threads`` CPUs and runs on that many threads. ``worker_data`` sets ``HWSIM_DATA`` on the
    workers; ``ship_data`` sends the data sets a job needs through the object store to nodes lacking them."""

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None, threads: int = 1,
                 max_retries: int = 3, worker_data: str | None = None, ship_data: bool = True,
                 local_cpus: int | None = None) -> None:
        if workers is not None and workers < 1:
            raise ConfigError("the number of Ray workers must be at least 1")
        if max_retries < 0:
            raise ConfigError("--retries must be 0 or more")
        self.address = address or None
        self.workers = workers
        self.threads = threads
        self.max_retries = max_retries
        self.worker_data = worker_data
        self.ship_data = ship_data
        self.local_cpus = local_cpus
        self.start_s: float | None = None
        self.where = ""

    def describe(self) -> str:
        """One line for people (after :meth:`session` has started: the cluster's nodes and CPUs)."""
        cap = f", at most {self.workers} jobs at once" if self.workers else ""
        return f"Ray ({self.where or self.address or os.environ.get('RAY_ADDRESS') or 'local'}{cap})"

    @contextmanager
    def session(self) -> Iterator[Any]:
        """Ray, initialised for the block: an existing connection is reused (and left open), else the
        cluster is joined or a local Ray started, and shut down after the block."""
        ray = import_ray()
        if ray.is_initialized():
            self._describe_cluster(ray)
            yield ray
            return
        address = self.address or os.environ.get("RAY_ADDRESS") or None
        t0 = time.perf_counter()
        try:
            if address:
                ray.init(address=address, logging_level="WARNING", log_to_driver=False)
            else:
                ray.init(num_cpus=self.local_cpus, include_dashboard=False, logging_level="WARNING",
                         log_to_driver=False)
        except Exception as exc:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError, ValueError
            what = f"join the Ray cluster at {address}" if address else "start a local Ray"
            raise BackendUnavailableError(f"cannot {what}: {exc}. Start a cluster with 'ray start --head' and pass "
                                          "its address to --ray (see docs/cluster.md)") from exc
        self.start_s = time.perf_counter() - t0
        try:
            self._describe_cluster(ray)
            yield ray
        finally:
            ray.shutdown()

    def _describe_cluster(self, ray: Any) -> None:
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        cpus = int(ray.cluster_resources().get("CPU", 0))
        self.where = f"{len(nodes)} node{'s' if len(nodes) != 1 else ''}, {cpus} CPUs"

    def run(self, jobs: list[Job], on_done: OnDone) -> None:
        """Run ``jobs`` as Ray tasks, calling ``on_done(job, outcome)`` here as each finishes."""
        if not jobs:
            return
        with self.session() as ray:
            self._run(ray, jobs, on_done)

    def _run(self, ray: Any, jobs: list[Job], on_done: OnDone) -> None:
        options: dict[str, Any] = {"num_cpus": self.threads, "max_retries": self.max_retries,
                                   "retry_exceptions": False}
        if self.worker_data:
            options["runtime_env"] = {"env_vars": {"HWSIM_DATA": self.worker_data}}
        task = ray.remote(execute)
        names = sorted({n for j in jobs for n in j.needs})
        shipped = {n: ray.put(export_files(n)) for n in names} if self.ship_data else {}
        queue = deque(jobs)
        pending: dict[Any, Job] = {}
        cap = self.workers or len(jobs)
        try:
            while queue or pending:
                while queue and len(pending) < cap:
                    job = queue.popleft()
                    ref = task.options(name=f"hwsim job {job.label}", **options).remote(
                        job.fn, dict(job.config), job.needs, {n: shipped[n] for n in job.needs if n in shipped},
                        self.threads)
                    pending[ref] = job
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
                for ref in ready:
                    job = pending.pop(ref)
                    try:
                        outcome = ray.get(ref)
                    except ray.exceptions.RayError as exc:
                        outcome = lost(_explain(exc, self.max_retries), type(exc).__name__)
                    on_done(job, outcome)
        except BaseException:
            for ref in pending:
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # noqa: BLE001 - a task that just finished cannot be cancelled
                    pass
            raise


def _explain(exc: BaseException, retries: int) -> str:
    """A sentence for a job Ray could not complete."""
    text = str(exc).strip().splitlines()
    first = text[-1] if text else type(exc).__name__
    if "ModuleNotFoundError" in str(exc) or "No module named" in str(exc):
        return (f"a Ray worker cannot import the job ({first}); install hwsim with the same version on every node "
                f"(pip install 'hwsim[cluster]')")
    return f"Ray could not complete this job after {retries} retries of lost workers: {type(exc).__name__}: {first}"
