"""``hwsim sweep``: run a grid of ``hwsim train`` runs as independent jobs, here or on a Ray cluster.

Examples::

    hwsim sweep --seeds 0-9 --system optical,acoustic --method mfff,pat --epochs 5
    hwsim sweep --dataset digits --seeds 0-4 --grid lr=1e-3,2e-3 --jobs 2
    hwsim sweep --seeds 0-19 --method mfff,pat --ray                  # a local Ray started for the sweep
    hwsim sweep --seeds 0-19 --method mfff,pat --ray head-node:6379   # an existing Ray cluster

Every ``hwsim train`` option is accepted; ``--dataset``, ``--system``, ``--method`` and ``--profile``
take comma-separated lists, ``--seeds`` a list of ranges (``0-4,9``), and ``--grid NAME=V1,V2`` makes
any other option an axis. Each grid point runs beside its physical-off ablation and logistic regression
on the same split, as ``hwsim train`` does (``--no-ablation`` skips them); identical runs (the ablation
of two systems) run once. Each finished run is written to ``OUT/jobs/`` as it arrives: running the same
command again skips them, so an interrupted sweep resumes.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from hwsim.data import data_use_recorder
from hwsim.errors import ConfigError
from hwsim.jobs import Job, JobsReport, add_backend_options, backend_from_args, run_jobs
from hwsim.jobs.local import LocalBackend
from hwsim.report import mean_std, write_bench
from physical.cli import build_parser as train_parser
from physical.cli import config_from_args
from physical.datasets import load_dataset
from physical.config import PhysicalTrainConfig
from physical.trainer import open_device, train

AXES = ("dataset", "system", "method", "profile")
REFUSED = {"--seed": "use --seeds", "--resume": "a sweep resumes by itself: run the same command again",
           "--name": "each run of a sweep is named by its settings", "--runs": "a sweep keeps its results in --out"}


def train_job(config: dict[str, Any]) -> dict[str, Any]:
    """One ``hwsim train`` run from its full config (as ``PhysicalTrainConfig.to_dict``); its result as a dict."""
    return train(PhysicalTrainConfig.from_dict(config), record=False).to_dict()


def parse_seeds(text: str) -> list[int]:
    """``"0-4,9"`` -> ``[0, 1, 2, 3, 4, 9]`` (ranges inclusive, order kept, repeats dropped)."""
    seeds: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        lo, dash, hi = part.partition("-")
        try:
            values = range(int(lo), int(hi) + 1) if dash else [int(part)]
        except ValueError:
            raise ConfigError(f"--seeds '{text}': '{part}' is not a seed or a range like 0-9") from None
        if dash and int(hi) < int(lo):
            raise ConfigError(f"--seeds '{text}': the range {part} is empty")
        seeds += [s for s in values if s not in seeds]
    return seeds


def _split(value: str) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise ConfigError(f"'{value}' lists no values")
    return items


def grid_axes(args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    """The sweep's axes as ``(hwsim train option, values)``, seeds last."""
    axes = [(f"--{name}", _split(getattr(args, name))) for name in AXES if getattr(args, name)]
    for item in args.grid or []:
        name, eq, values = item.partition("=")
        if not eq or not name.strip():
            raise ConfigError(f"--grid '{item}' must look like NAME=V1,V2 (e.g. lr=1e-3,2e-3)")
        axes.append(("--" + name.strip().replace("_", "-"), _split(values)))
    axes.append(("--seed", [str(s) for s in parse_seeds(args.seeds)]))
    return axes


def companions(cfg: PhysicalTrainConfig) -> list[PhysicalTrainConfig]:
    """The runs ``hwsim train`` puts beside ``cfg``: its physical-off ablation and logistic regression."""
    out = [cfg.ablation()] if cfg.uses_device else []
    return out + ([replace(cfg, method="logreg", physical=False, name=None)] if cfg.method != "logreg" else [])


def identity(cfg: PhysicalTrainConfig) -> dict[str, Any]:
    """What makes two runs the same computation: every setting, but not the system of a run without the
    device (the ablation of an optical and of an acoustic run is one run)."""
    d = cfg.to_dict()
    if not cfg.uses_device:
        d["system"] = None
    d["name"] = None
    return d


def label_of(cfg: PhysicalTrainConfig) -> str:
    """A short name of a run for the progress line and the placement summary."""
    return cfg.run_name()


def plan(axes: list[tuple[str, list[str]]], rest: Sequence[str], with_companions: bool = True
         ) -> tuple[list[dict[str, Any]], list[Job]]:
    """The grid points (``{"axes": {option: value}, "runs": [config per seed], "companions": ...}``) and
    the jobs that compute them, without repeats."""
    parser = train_parser()
    parser.prog = "hwsim sweep (hwsim train options)"
    cells: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
    jobs: list[Job] = []
    for values in itertools.product(*(vals for _, vals in axes)):
        argv = list(rest)
        for (option, _), value in zip(axes, values):
            if not (option == "--profile" and value == "none"):
                argv += [option, value]
        cfg = config_from_args(parser.parse_args(argv))
        point = tuple((opt, v) for (opt, _), v in zip(axes, values) if opt != "--seed")
        cell = cells.setdefault(point, {"axes": {opt.lstrip("-"): v for opt, v in point}, "runs": [],
                                        "companions": []})
        extra = companions(cfg) if with_companions else []
        cell["runs"].append(cfg)
        cell["companions"].append(extra)
        jobs += [Job(train_job, c.to_dict(), label=label_of(c), identity=identity(c)) for c in [cfg, *extra]]
    return list(cells.values()), jobs


def data_needs(configs: Sequence[dict[str, Any]]) -> list[tuple[str, ...]]:
    """The registered data sets each ``PhysicalTrainConfig`` dict reads, found by building each distinct
    data set and device once here (which also leaves fitted surrogates in this machine's cache)."""
    needs: dict[tuple[Any, ...], tuple[str, ...]] = {}
    out = []
    for config in configs:
        cfg = PhysicalTrainConfig.from_dict(dict(config))
        key = (cfg.dataset, cfg.scaling, cfg.uses_device and not cfg.device_url and (cfg.system, cfg.profile))
        if key not in needs:
            with data_use_recorder() as used:
                load_dataset(cfg.dataset, cfg.seed, cfg.max_train, cfg.max_test, cfg.scaling)
                if cfg.uses_device and not cfg.device_url:
                    open_device(cfg).close()
            needs[key] = tuple(sorted(used))
        out.append(needs[key])
    return out


def prepare(jobs: list[Job]) -> list[Job]:
    """The ``hwsim train`` jobs with the registered data sets each reads (:func:`data_needs`)."""
    return [replace(job, needs=n) for job, n in zip(jobs, data_needs([job.config for job in jobs]))]


def _key_of(cfg: PhysicalTrainConfig) -> str:
    return Job(train_job, cfg.to_dict(), identity=identity(cfg)).key


def rows_for(cells: list[dict[str, Any]], report: JobsReport) -> list[dict[str, Any]]:
    """One row per grid point: test accuracy over the seeds beside the ablation's and logistic regression's,
    the device rows a run measured and its wall-clock."""
    results = {k: r["result"] for k, r in report.records.items()}
    rows = []
    for cell in cells:
        runs = [results[_key_of(c)] for c in cell["runs"]]
        acc, sd = mean_std(r["test_acc"] for r in runs)
        row: dict[str, Any] = {**cell["axes"], "seeds": len(runs), "acc": round(acc, 4), "acc_std": round(sd, 4)}
        for label, pick in (("ablation", lambda cs: [c for c in cs if c.method != "logreg"]),
                            ("logreg", lambda cs: [c for c in cs if c.method == "logreg"])):
            picked = [results[_key_of(c)] for cs in cell["companions"] for c in pick(cs)]
            if picked:
                m, s = mean_std(r["test_acc"] for r in picked)
                row[label] = round(m, 4)
                row[f"{label}_std"] = round(s, 4)
        if "ablation" in row:
            row["gain"] = round(row["acc"] - row["ablation"], 4)
        row["meas"] = int(round(mean_std(r["measurements_train"] + r["measurements_twin"] for r in runs)[0]))
        row["wall_s"] = round(mean_std(r["wall_s"] for r in runs)[0], 2)
        row["seed_accs"] = [round(r["test_acc"], 4) for r in runs]
        rows.append(row)
    return rows


def build_parser() -> argparse.ArgumentParser:
    """The options of ``hwsim sweep`` itself (the rest go to ``hwsim train``'s parser)."""
    p = argparse.ArgumentParser(prog="hwsim sweep", description=__doc__, allow_abbrev=False,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Any other option is an 'hwsim train' option (see hwsim train --help).")
    g = p.add_argument_group("the grid")
    g.add_argument("--seeds", default="0", help="seeds, e.g. 0-9 or 0,2,5-7 (default 0)")
    g.add_argument("--dataset", help="comma-separated data sets (default: hwsim train's)")
    g.add_argument("--system", help="comma-separated device specs, e.g. optical,acoustic")
    g.add_argument("--method", help="comma-separated training methods, e.g. mfff,pat")
    g.add_argument("--profile", help="comma-separated non-ideality profiles ('none' for no profile)")
    g.add_argument("--grid", action="append", metavar="NAME=V1,V2",
                   help="any other hwsim train option as an axis (repeatable), e.g. lr=1e-3,2e-3")
    g.add_argument("--no-ablation", action="store_true", help="skip the physical-off ablation and logistic regression")
    o = p.add_argument_group("output")
    o.add_argument("--out", help="folder of the sweep's results (default runs/sweep-<hash of the grid>)")
    o.add_argument("--json", metavar="FILE", help="write the table as JSON (default OUT/summary.json)")
    o.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
    add_backend_options(p)
    return p


def main(argv: Sequence[str]) -> int:
    """Run ``hwsim sweep``."""
    args, rest = build_parser().parse_known_args(argv)
    for token in rest:
        refused = REFUSED.get(token.split("=", 1)[0])
        if refused:
            raise ConfigError(f"hwsim sweep does not take {token.split('=', 1)[0]}: {refused}")
    if args.threads < 1:
        raise ConfigError("--threads must be at least 1")
    cells, jobs = plan(grid_axes(args), rest, with_companions=not args.no_ablation)
    backend = backend_from_args(args, threads=args.threads)
    if any(j.config.get("device_url") for j in jobs) and not (isinstance(backend, LocalBackend) and
                                                              backend.workers == 1):
        raise ConfigError("a sweep on a board (--device-url) runs one job at a time on it: leave out --jobs and --ray")
    jobs = prepare(jobs)
    digest = hashlib.sha256("".join(sorted(j.key for j in jobs)).encode()).hexdigest()[:10]
    out = Path(args.out or f"runs/sweep-{digest}")
    runs = sum(len(c["runs"]) for c in cells)
    print(f"sweep: {len(cells)} grid points, {runs} runs, {len(jobs)} jobs with ablations and baselines "
          f"({len({j.key for j in jobs})} distinct) on {backend.describe()}; results in {out}/", flush=True)
    try:
        report = run_jobs(jobs, backend, store=out / "jobs", desc="sweep")
    except KeyboardInterrupt:
        done = sum(1 for _ in (out / "jobs").glob("*.json"))
        print(f"interrupted: {done} finished jobs are kept in {out}/jobs; run the same command to resume",
              file=sys.stderr)
        raise
    rows = rows_for(cells, report)
    columns = [*cells[0]["axes"], "seeds", "acc", "acc_std", *(["ablation", "gain"] if not args.no_ablation else []),
               *(["logreg"] if not args.no_ablation else []), "meas", "wall_s"]
    write_bench(args.json or out / "summary.json", "sweep", rows, [c for c in columns if any(c in r for r in rows)],
                backend=report.backend, ran=report.ran, skipped=report.skipped, elapsed_s=round(report.elapsed_s, 1),
                placement=report.placement(), argv=list(argv))
    print("\n".join(report.summary_lines()))
    return 0
