"""Run a list of independent, seeded jobs and get their results: in this process, in local worker
processes, or as Ray tasks on a cluster, with finished results kept on disk so a run resumes.

    from hwsim.jobs import Job, RayBackend, run_jobs

    jobs = [Job(train_one, {"seed": s, "epochs": 5}, label=f"seed {s}") for s in range(10)]
    report = run_jobs(jobs, RayBackend("auto"), store="runs/my-sweep")
    report.results   # in job order, identical to a local run of the same jobs

Ray is imported only by :class:`RayBackend`, only when it runs. See docs/cluster.md.
"""

from hwsim.jobs.errors import BackendUnavailableError, JobError
from hwsim.jobs.job import Job, job_key
from hwsim.jobs.local import LocalBackend
from hwsim.jobs.options import add_backend_options, backend_from_args
from hwsim.jobs.ray_backend import RayBackend
from hwsim.jobs.runner import Backend, JobsReport, run_jobs
from hwsim.jobs.store import ResultStore

__all__ = ["Job", "job_key", "run_jobs", "JobsReport", "Backend", "LocalBackend", "RayBackend", "ResultStore",
           "JobError", "BackendUnavailableError", "add_backend_options", "backend_from_args"]
