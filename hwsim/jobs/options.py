"""The command-line options every command that runs jobs shares: where they run."""

from __future__ import annotations

import argparse

from hwsim.jobs.local import LocalBackend
from hwsim.jobs.ray_backend import RayBackend, import_ray
from hwsim.jobs.runner import Backend


def add_backend_options(parser: argparse.ArgumentParser, default_jobs: int = 1,
                        jobs_flags: tuple[str, ...] = ("--jobs",)) -> None:
    """Add ``--jobs`` (spelt ``jobs_flags``, e.g. ``("--workers", "--jobs")`` where a command said
    ``--workers`` before), ``--ray [ADDRESS]``, ``--worker-data``, ``--no-ship-data`` and ``--retries``."""
    g = parser.add_argument_group("where the jobs run (see docs/cluster.md)")
    g.add_argument(*jobs_flags, dest="jobs", type=int, default=None, metavar="N",
                   help=f"local worker processes (default {default_jobs}); with --ray: at most N jobs at once")
    g.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run the jobs as Ray tasks: on the cluster at ADDRESS (host:port, auto, ray://...), else "
                        "$RAY_ADDRESS, else a local Ray started for the run (needs pip install 'hwsim[cluster]')")
    g.add_argument("--worker-data", metavar="DIR", help="HWSIM_DATA on the Ray workers (default: their own)")
    g.add_argument("--no-ship-data", action="store_true",
                   help="do not send data sets through Ray's object store to workers that lack them")
    g.add_argument("--retries", type=int, default=3, help="Ray retries of a job whose worker or node died (default 3)")
    parser.set_defaults(_default_jobs=default_jobs)


def backend_from_args(args: argparse.Namespace, threads: int = 1) -> Backend:
    """The back end the options of :func:`add_backend_options` ask for, each job on ``threads`` threads."""
    if args.ray is None:
        return LocalBackend(workers=args.jobs or args._default_jobs, threads=threads)
    import_ray()  # --ray without Ray installed stops here, before any work, saying how to install it
    return RayBackend(address=args.ray, workers=args.jobs, threads=threads, max_retries=args.retries,
                      worker_data=args.worker_data, ship_data=not args.no_ship_data)
