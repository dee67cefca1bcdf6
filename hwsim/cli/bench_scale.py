"""``hwsim bench scale``: the same ``hwsim sweep`` on the local back end and on Ray, in one run.

Rows: the sweep (digits, optical, mfff and pat with their ablations and logistic regression, over
``--seeds``) in this process (today's default), in 2 local worker processes, and as Ray tasks with at
most 1 and 2 jobs in flight; wall-clock, speed-up over this process, and whether every job's result
equals this process's (they must: each job carries its seed and full config). Then a trivial job
(returns its seed) run ``--trivial`` times on each back end: the runner's own cost per job, and Ray's
per-job overhead over the in-process call.

Ray runs on the cluster at ``--ray ADDRESS`` (or ``$RAY_ADDRESS``), else on a local Ray started with
2 CPUs. Its workers are warmed first (a Ray cluster is normally up before a sweep); the start time and
the warm-up are reported beside the rows. A local worker pool starts fresh processes for each run, as
``--jobs N`` does. On one machine, more workers than free cores cannot go faster.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any, Sequence

from hwsim.cli.sweep import grid_axes, plan, prepare
from hwsim.cli.sweep import build_parser as sweep_parser
from hwsim.errors import ConfigError
from hwsim.jobs import Job, LocalBackend, RayBackend, ResultStore, run_jobs
from hwsim.jobs.errors import BackendUnavailableError
from hwsim.jobs.probes import trivial
from hwsim.report import write_bench

BUDGET = ["--dataset", "digits", "--system", "optical", "--method", "mfff,pat", "--epochs", "2", "--max-train", "300",
          "--max-test", "100", "--twin-samples", "600", "--twin-epochs", "30"]
QUICK = ["--dataset", "digits", "--system", "optical", "--method", "mfff", "--epochs", "1", "--max-train", "100",
         "--max-test", "50", "--twin-samples", "200", "--twin-epochs", "5"]
COLUMNS = ("work", "backend", "workers", "jobs", "wall_s", "speedup", "per_job_ms", "same_results")


def sweep_jobs(seeds: str, quick: bool) -> list[Job]:
    """The jobs of the benchmarked sweep (as ``hwsim sweep`` plans them)."""
    args, rest = sweep_parser().parse_known_args([*(QUICK if quick else BUDGET), "--seeds", seeds])
    return prepare(plan(grid_axes(args), rest)[1])


def comparable(results: list[Any]) -> list[Any]:
    """Results without their wall-clock (the one field that may differ between two runs of a job)."""
    return [{k: v for k, v in r.items() if k != "wall_s"} if isinstance(r, dict) else r for r in results]


def timed(jobs: list[Job], backend: Any) -> tuple[float, list[Any]]:
    """Wall-clock seconds of running ``jobs`` afresh on ``backend``, and their results."""
    t0 = time.perf_counter()
    report = run_jobs(jobs, backend, store=ResultStore(None), desc=backend.describe())
    return time.perf_counter() - t0, report.results


def modes(workers: list[int], local_workers: int, with_ray: bool) -> list[tuple[str, str, int, Any]]:
    """``(work, back end, workers, back end object)`` of every row, this process first."""
    out: list[tuple[str, str, int, Any]] = [("sweep", "local", 1, LocalBackend(1)),
                                            ("sweep", "local", local_workers, LocalBackend(local_workers))]
    out += [("sweep", "ray", w, RayBackend(workers=w)) for w in workers] if with_ray else []
    out += [("trivial", "local", 1, LocalBackend(1))]
    return out + ([("trivial", "ray", w, RayBackend(workers=w)) for w in workers] if with_ray else [])


def measure(jobs: list[Job], probes: list[Job], plan_: list[tuple[str, str, int, Any]], repeat: int
            ) -> list[dict[str, Any]]:
    """Run every mode ``repeat`` times round-robin (so each sees the same machine state) and return a row
    per mode with the median wall-clock; every run's results are checked against this process's."""
    walls: dict[int, list[float]] = {i: [] for i in range(len(plan_))}
    same: dict[int, bool] = {i: True for i in range(len(plan_))}
    reference: dict[str, list[Any]] = {}
    for _ in range(repeat):
        for i, (work, _, _, backend) in enumerate(plan_):
            wall, results = timed(jobs if work == "sweep" else probes, backend)
            walls[i].append(wall)
            reference.setdefault(work, comparable(results))
            same[i] = same[i] and comparable(results) == reference[work]
    rows = []
    base = {work: statistics.median(walls[i]) for i, (work, name, w, _) in enumerate(plan_)
            if name == "local" and w == 1}
    for i, (work, name, w, _) in enumerate(plan_):
        wall = statistics.median(walls[i])
        n = len(jobs if work == "sweep" else probes)
        rows.append({"work": work, "backend": name, "workers": w, "jobs": n, "wall_s": round(wall, 3),
                     "speedup": round(base[work] / wall, 3) if work == "sweep" else None,
                     "per_job_ms": round(1e3 * wall / n, 3) if work == "trivial" else None,
                     "same_results": same[i]})
    return rows


def main(argv: Sequence[str]) -> int:
    """Run the scale-out benchmark."""
    p = argparse.ArgumentParser(prog="hwsim bench scale", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a tiny sweep, few trivial jobs, one round (for tests)")
    p.add_argument("--json", metavar="FILE", help="write the table as JSON")
    p.add_argument("--seeds", help="seeds of the sweep (default 0-3; --quick 0-1)")
    p.add_argument("--workers", default="1,2", help="Ray jobs in flight to compare (default 1,2)")
    p.add_argument("--local-workers", type=int, default=2, help="local worker processes of the pool row (default 2)")
    p.add_argument("--trivial", type=int, help="trivial jobs per back end (default 200; --quick 20)")
    p.add_argument("--repeat", type=int, help="rounds of every row, median reported (default 3; --quick 1)")
    p.add_argument("--ray", nargs="?", const="", default="", metavar="ADDRESS",
                   help="the Ray cluster to use (default: $RAY_ADDRESS, else a local Ray)")
    args = p.parse_args(argv)
    try:
        workers = sorted({int(w) for w in args.workers.split(",")})
    except ValueError:
        raise ConfigError(f"--workers '{args.workers}' must be comma-separated numbers") from None
    if not workers or workers[0] < 1 or args.local_workers < 1:
        raise ConfigError("--workers and --local-workers must be at least 1")
    repeat = args.repeat or (1 if args.quick else 3)
    n_trivial = args.trivial or (20 if args.quick else 200)
    jobs = sweep_jobs(args.seeds or ("0-1" if args.quick else "0-3"), args.quick)
    probes = [Job(trivial, {"seed": s}, label=f"trivial {s}") for s in range(n_trivial)]
    timed(jobs[:1], LocalBackend(1))  # this process's first run imports the methods: not part of any row

    extra: dict[str, Any] = {"repeat": repeat, "sweep_jobs": [j.label for j in jobs]}
    ray = RayBackend(address=args.ray or None, local_cpus=max(2, *workers))
    try:
        with ray.session():
            extra["ray_cluster"] = ray.describe()
            extra["ray_start_s"] = None if ray.start_s is None else round(ray.start_s, 2)
            warm = [Job(trivial, {"seed": -1 - s}, label=f"warm-up {s}") for s in range(4 * max(workers))]
            extra["ray_warmup_s"] = round(timed(warm, RayBackend(workers=max(workers)))[0], 2)
            rows = measure(jobs, probes, modes(workers, args.local_workers, True), repeat)
    except BackendUnavailableError as exc:
        extra["ray_unavailable"] = str(exc)
        rows = measure(jobs, probes, modes(workers, args.local_workers, False), repeat)
    local_ms = next(r["per_job_ms"] for r in rows if r["work"] == "trivial" and r["backend"] == "local")
    extra["ray_overhead_ms_per_job"] = {f"{r['workers']} in flight": round(r["per_job_ms"] - local_ms, 3)
                                        for r in rows if r["work"] == "trivial" and r["backend"] == "ray"}
    write_bench(args.json, "scale", rows, COLUMNS, quick=args.quick, **extra)
    if "ray_unavailable" in extra:
        print(f"Ray rows skipped: {extra['ray_unavailable']}")
    else:
        print(f"Ray: {extra['ray_cluster']}, started in {extra['ray_start_s']} s, workers warmed in "
              f"{extra['ray_warmup_s']} s; overhead per trivial job over in-process: "
              + ", ".join(f"{v:.2f} ms ({k})" for k, v in extra["ray_overhead_ms_per_job"].items()))
    return 0
