"""``run_jobs``: a list of independent, seeded jobs -> their results, on any back end.

Jobs already in the result store are skipped (an interrupted run resumes), jobs with the same key
run once, the data sets the jobs need are fetched here first (once, on the driver: workers check or
receive them, they never download), one progress bar counts finished jobs across every worker, and
each result is written to the store the moment it arrives. Results come back in the order of the
jobs, each exactly once, the same whichever back end and worker computed them.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

from hwsim.data import fetch
from hwsim.jobs.errors import JobError
from hwsim.jobs.job import Job
from hwsim.jobs.local import LocalBackend, OnDone
from hwsim.jobs.store import ResultStore
from hwsim.progress import progress
from hwsim.report import table


class Backend(Protocol):
    """Where jobs run: :class:`~hwsim.jobs.local.LocalBackend` or :class:`~hwsim.jobs.ray_backend.RayBackend`."""

    name: str

    def describe(self) -> str:
        """One line for people."""

    def run(self, jobs: list[Job], on_done: OnDone) -> None:
        """Run ``jobs``, calling ``on_done(job, outcome)`` in the driver as each finishes."""


@dataclass
class JobsReport:
    """What a run of jobs gave: ``results`` in the order of the jobs, their ``records`` (config, result,
    where it ran, seconds), how many ran now and how many were ``skipped`` (finished earlier), and the
    failures (job label, error dict) of jobs that did not finish."""

    jobs: list[Job]
    records: dict[str, dict[str, Any]]
    ran: int
    skipped: int
    failed: list[tuple[Job, dict[str, Any]]] = field(default_factory=list)
    backend: str = ""
    elapsed_s: float = 0.0

    @property
    def results(self) -> list[Any]:
        """The result of every job, in job order (only valid when nothing failed)."""
        return [self.records[j.key]["result"] for j in self.jobs]

    def placement(self) -> list[dict[str, Any]]:
        """One row per node that ran jobs in this run: host, node id, jobs, job-seconds."""
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for rec in self.records.values():
            if rec.get("skipped"):
                continue
            w = rec["where"]
            row = rows.setdefault((w.get("host", "?"), w.get("node", "?")), {
                "host": w.get("host", "?"), "node": str(w.get("node", "?"))[:12], "ip": w.get("ip", "-"),
                "jobs": 0, "job_s": 0.0, "processes": set()})
            row["jobs"] += 1
            row["job_s"] += rec["wall_s"]
            row["processes"].add(w.get("pid"))
        out = []
        for row in rows.values():
            out.append({**row, "job_s": round(row["job_s"], 1), "processes": len(row["processes"])})
        return sorted(out, key=lambda r: (r["host"], r["node"]))

    def summary_lines(self) -> list[str]:
        """Where the jobs ran, for people."""
        head = f"{self.ran} jobs ran on {self.backend} in {self.elapsed_s:.1f} s"
        if self.skipped:
            head += f"; {self.skipped} finished earlier and were skipped"
        if self.failed:
            head += f"; {len(self.failed)} failed"
        lines = [head]
        if self.ran:
            lines += ["where they ran:", table(self.placement(), ("host", "node", "ip", "processes", "jobs", "job_s"))]
        return lines


def unique_jobs(jobs: Sequence[Job]) -> list[Job]:
    """``jobs`` without repeats of a key (the first of each kept, order kept)."""
    seen: dict[str, Job] = {}
    for job in jobs:
        seen.setdefault(job.key, job)
    return list(seen.values())


def run_jobs(jobs: Sequence[Job], backend: Backend | None = None, store: ResultStore | str | Path | None = None,
             desc: str = "jobs", raise_on_failure: bool = True,
             on_result: Callable[[Job, dict[str, Any], int, int], None] | None = None) -> JobsReport:
    """Run every job not already finished in ``store`` on ``backend`` (default: this process) and return
    the :class:`JobsReport`. A failed job does not stop the others; with ``raise_on_failure`` a
    :class:`JobError` names it afterwards (the finished ones are in the store, so rerunning runs only the
    failed ones). ``on_result(job, record, finished, total)`` is called here as each job that ran now
    finishes (``finished`` counts the skipped ones too, ``total`` the distinct jobs)."""
    backend = backend or LocalBackend()
    store = store if isinstance(store, ResultStore) else ResultStore(store)
    jobs = list(jobs)
    todo_unique = unique_jobs(jobs)
    records: dict[str, dict[str, Any]] = {}
    for job in todo_unique:
        rec = store.load(job)
        if rec is not None:
            records[job.key] = {**rec, "skipped": True}
    todo = [j for j in todo_unique if j.key not in records]
    for name in sorted({n for j in todo for n in j.needs}):
        fetch(name)  # on the driver, once: downloads here if it must, so no worker ever does
    report = JobsReport(jobs=jobs, records=records, ran=0, skipped=len(records), backend=backend.describe())
    bar = progress(total=len(todo_unique), desc=desc, initial=len(records), unit="job")
    nodes: dict[str, int] = defaultdict(int)

    def on_done(job: Job, outcome: dict[str, Any]) -> None:
        if outcome.get("ok"):
            records[job.key] = store.save(job, outcome["result"], outcome["where"], outcome["wall_s"])
            report.ran += 1
            nodes[str(outcome["where"].get("node"))] += 1
            if on_result is not None:
                on_result(job, records[job.key], report.ran + report.skipped, len(todo_unique))
        else:
            report.failed.append((job, {**outcome["error"], "where": outcome.get("where", {})}))
        bar.update(1)
        bar.set_postfix(nodes=len(nodes), failed=len(report.failed))

    t0 = time.perf_counter()
    try:
        backend.run(todo, on_done)
    finally:
        bar.close()
        report.elapsed_s = time.perf_counter() - t0
        report.backend = backend.describe()
    if report.failed and raise_on_failure:
        raise JobError(failure_message(report, kept_on_disk=store.root is not None))
    return report


def failure_message(report: JobsReport, kept_on_disk: bool = True) -> str:
    """One paragraph on the failed jobs of a run: how many, the first one's error, what to do."""
    job, err = report.failed[0]
    where = err.get("where", {})
    at = f" on {where.get('host')}" if where.get("host") else ""
    kept = report.ran + report.skipped
    detail = err["message"] if err.get("hwsim") else f"{err['type']}: {err['message']}"
    trace = "" if err.get("hwsim") or not err.get("traceback") else "\n" + err["traceback"].rstrip()
    then = (f"The {kept} finished results are kept: fix the cause and run the same command again to run only "
            "the failed jobs." if kept_on_disk and kept else "Fix the cause and run again.")
    return (f"{len(report.failed)} of {len(report.failed) + kept} jobs failed; first, job {job.label}{at}: {detail}. "
            f"{then}{trace}")
