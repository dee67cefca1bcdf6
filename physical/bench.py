"""``hwsim bench physical``: data sets x systems x profiles x methods, test accuracy over seeds with the five
peers beside every row, device rows and digital FLOPs (of training and of the twin fit), the cost to
reach fixed accuracies, rows and FLOPs per prediction, and the estimated time on hardware; then the
paper's claim checked: does a model-free method reach physics-aware training's final accuracy with
fewer device rows?

Each row is one (data set, system, profile, method) over ``--seeds`` seeds: mean and sample std of
the test accuracy of the kept weights (the best validation epoch's when the preset holds out a
validation split, else the last epoch's), and beside it, on the same splits and seeds
(:mod:`physical.peers`): the physical-off ablation, random features of the same device (one pass
and a linear read-out), a digital MLP with as many digital parameters, a digital 2x256 MLP and
logistic regression. ``rows`` are device rows of training and twin data (validation and test
evaluation are counted apart), ``hw_h`` those rows at the system's declared time per row
(``row_time_s`` with its source, in the JSON). ``reach`` gives, per target accuracy, the mean rows
at which the seeds first reach it (and how many do).

Curves of test accuracy against device rows go to PNG files (``--plots DIR``, default beside
``--json``) and, as numbers, into the JSON. A device row costs from about 0.05 ms (optical, acoustic
simulators) to several ms (microwave, Duffing and oscillator networks integrate ODEs or solve a
scattering problem per row), so the slow systems run on a smaller subset; every row states it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Sequence

from hwsim.cli.sweep import label_of, prepare, train_job
from hwsim.errors import ConfigError
from hwsim.jobs import Backend, Job, JobsReport, add_backend_options, backend_from_args, run_jobs
from hwsim.nonideal import profile_names
from hwsim.progress import progress_enabled
from hwsim.report import mean_std, write_bench
from physical.config import PhysicalTrainConfig, make_config
from physical.cost_curves import (
    TARGETS, accuracy_at_rows, cost_to_reach, mean_curve, plot_curves, rows_at_accuracy,
)
from physical.datasets import DATASETS
from physical.methods import MODEL_FREE
from physical.peers import PEERS, peer_configs
from physical.trainer import Trainer

SYSTEMS = ("optical", "acoustic", "microwave", "duffing", "oscillators")
METHODS = ("mfff", "local", "sf", "pat", "insilico")
# the device spec each system is benchmarked with: a 1024-pixel camera gives the optical layer room;
# 64 speakers driving the 16 Duffing resonators save chunking the input
SYSTEM_SPECS = {"optical": "optical?n_out=1024&pool=1", "acoustic": "acoustic", "microwave": "microwave",
                "duffing": "duffing?n_in=64", "oscillators": "oscillators"}
SLOW = ("microwave", "duffing", "oscillators")
DATASET_SYSTEMS = {"vowels7": ("acoustic",), "vowels12": ("acoustic",), "digits": SYSTEMS, "mnist1d": SYSTEMS}
DATASET_PROFILES = {"mnist1d": ("ideal", "lab")}

# (mode, data set, speed) -> training settings on top of the data set's preset
BUDGETS: dict[tuple[str, str, str], dict[str, Any]] = {
    ("full", "vowels7", "fast"): {},
    ("full", "vowels12", "fast"): {},
    ("full", "digits", "fast"): {},
    ("full", "digits", "slow"): {"epochs": 5, "max_train": 200, "max_test": 150, "twin_samples": 1000},
    ("full", "mnist1d", "fast"): {},
    ("full", "mnist1d", "slow"): {"epochs": 5, "max_train": 200, "max_test": 150, "twin_samples": 1000},
    ("quick", "vowels7", "fast"): {"epochs": 40},
    ("quick", "vowels12", "fast"): {"epochs": 5, "max_train": 300, "max_test": 100},
    ("quick", "digits", "fast"): {"epochs": 3, "max_train": 300, "max_test": 100},
    ("quick", "digits", "slow"): {"epochs": 2, "max_train": 60, "max_test": 30},
    ("quick", "mnist1d", "fast"): {"epochs": 3, "max_train": 300, "max_test": 100},
    ("quick", "mnist1d", "slow"): {"epochs": 2, "max_train": 60, "max_test": 30},
}
QUICK_TWIN = {"twin_samples": 600, "twin_epochs": 30}
QUICK_SPECS = {"optical": "optical?n_out=128&pool=1"}


def network_size(cfg: PhysicalTrainConfig) -> tuple[int, int, int]:
    """``(digital parameters, features, classes)`` of the network ``cfg`` trains (builds it, trains nothing)."""
    trainer = Trainer(cfg, record=False)
    try:
        return trainer.method.digital_params(), trainer.data.n_features, trainer.data.n_classes
    finally:
        trainer.close()


def plan(mode: str, datasets: Sequence[str], systems: Sequence[str], methods: Sequence[str], seeds: int,
         profiles: Sequence[str] | None = None, extra: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The cells of the bench: one per (data set, system, profile, method) with the configs of its seeds
    and of their peers."""
    cells = []
    for ds in datasets:
        for system in DATASET_SYSTEMS.get(ds, SYSTEMS):
            if system not in systems:
                continue
            speed = "slow" if system in SLOW else "fast"
            budget = dict(BUDGETS.get((mode, ds, speed)) or BUDGETS[(mode, ds, "fast")])
            spec = SYSTEM_SPECS.get(system, system)
            if mode == "quick":
                budget.update(QUICK_TWIN)
                spec = QUICK_SPECS.get(system, spec)
            budget.update(extra or {})
            for profile in (profiles or DATASET_PROFILES.get(ds, ("ideal",))):
                for method in methods:
                    cfgs = [make_config(ds, system=spec, method=method, seed=s, profile=profile,
                                        eval_train_samples=0, **budget) for s in range(seeds)]
                    size = network_size(cfgs[0])
                    peers = [peer_configs(c, *size) for c in cfgs]
                    cells.append({"dataset": ds, "system": system, "profile": profile, "method": method,
                                  "budget": budget, "configs": cfgs, "peers": peers, "params": size[0]})
    return cells


def _identity(cfg: PhysicalTrainConfig) -> dict[str, Any]:
    """What makes two runs the same computation: the config with its seed, but neither the system nor the
    profile of a run without the device (the backprop ablation of two methods is one run)."""
    d = cfg.to_dict()
    if not cfg.uses_device:
        d["system"] = None
        d["profile"] = None
    return d


def _key(cfg: PhysicalTrainConfig) -> str:
    return json.dumps(_identity(cfg), sort_keys=True)


def _report(done: int, total: int, cfg: PhysicalTrainConfig, result: dict[str, Any]) -> None:
    """One line per finished run on stderr when there is no progress bar (a log file, not under CI)."""
    if progress_enabled() or os.environ.get("HWSIM_QUIET") or os.environ.get("CI"):
        return
    where = f"{cfg.system} {cfg.profile or ''}" if cfg.uses_device else "no device"
    print(f"[{done}/{total}] {cfg.dataset} {where} {cfg.method} seed {cfg.seed}: acc {result['test_acc']:.4f}, "
          f"{result['measurements_train'] + result['measurements_twin']} rows, {result['wall_s']:.1f} s",
          file=sys.stderr, flush=True)


def run_all(configs: list[PhysicalTrainConfig], backend: Backend | None = None,
            store: str | Path | None = None) -> tuple[dict[str, dict[str, Any]], JobsReport]:
    """Run every distinct config once as a job of :mod:`hwsim.jobs` on ``backend`` (default: this process),
    skipping those finished in ``store``; the results keyed by :func:`_key`, and the jobs' report."""
    unique: dict[str, PhysicalTrainConfig] = {}
    for cfg in configs:
        unique.setdefault(_key(cfg), cfg)
    # device-heavy runs first, so the cheap ones fill the gaps at the end
    order = sorted(unique, key=lambda k: (not unique[k].uses_device, k))
    jobs = prepare([Job(train_job, unique[k].to_dict(), label=label_of(unique[k]), identity=_identity(unique[k]))
                    for k in order])
    by_job = {job.key: unique[k] for job, k in zip(jobs, order)}

    def report_line(job: Job, record: dict[str, Any], done: int, total: int) -> None:
        _report(done, total, by_job[job.key], record["result"])

    try:
        report = run_jobs(jobs, backend, store=store, desc="bench physical", on_result=report_line)
    except KeyboardInterrupt:
        if store is not None:
            print(f"interrupted: the finished runs are kept in {store}; run the same command to resume",
                  file=sys.stderr)
        raise
    return {k: report.records[job.key]["result"] for job, k in zip(jobs, order)}, report


def _mean(results: list[dict[str, Any]], key: str) -> float:
    return mean_std(float(r[key]) for r in results)[0]


def _acc(results: list[dict[str, Any]]) -> tuple[float, float]:
    m, s = mean_std(float(r["test_acc"]) for r in results)
    return round(m, 4), round(s, 4)


def reach_text(cost: dict[str, Any]) -> str:
    """``60%:123k(4/5)``: thousands of rows to reach the target, and how many seeds got there."""
    rows = "-" if cost["rows"] is None else f"{cost['rows'] / 1e3:.0f}k"
    return f"{100 * cost['target']:.0f}%:{rows}({cost['reached']}/{cost['seeds']})"


def rows_for(cells: list[dict[str, Any]], results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One table row per cell, with its five peers beside it."""
    rows = []
    for cell in cells:
        runs = [results[_key(c)] for c in cell["configs"]]
        peer_runs = {name: [results[_key(p[name])] for p in cell["peers"]] for name in PEERS}
        acc, acc_sd = _acc(runs)
        learn = [r["measurements_train"] + r["measurements_twin"] for r in runs]
        row_s = runs[0]["row_time_s"]
        b = cell["budget"]
        r2 = [r["extra"].get("twin_r2") for r in runs if r["extra"].get("twin_r2") is not None]
        row: dict[str, Any] = {
            "dataset": cell["dataset"], "system": cell["system"], "profile": cell["profile"],
            "method": cell["method"], "seeds": len(runs), "acc": acc, "acc_std": acc_sd,
            "ablation_method": peer_runs["ablation"][0]["method"] + "-off"}
        for name in PEERS:
            row[name] = _acc(peer_runs[name])[0]
            row[name + "_std"] = _acc(peer_runs[name])[1]
        row.update({
            "rf_rows": int(round(_mean(peer_runs["rf"], "measurements_train"))),
            "mlp_matched_hidden": cell["peers"][0]["mlp-matched"].mlp_hidden,
            "rows": int(round(sum(learn) / len(learn))), "rows_twin": int(round(_mean(runs, "measurements_twin"))),
            "rows_val": int(round(_mean(runs, "measurements_val"))),
            "per_pred": runs[0]["measurements_per_prediction"],
            "gflop": round((_mean(runs, "flops_train") + _mean(runs, "flops_twin")) / 1e9, 2),
            "gflop_twin": round(_mean(runs, "flops_twin") / 1e9, 2),
            "kflop_per_pred": round(_mean(runs, "flops_per_prediction") / 1e3, 1),
            "params": cell["params"],
            "hw_h": None if row_s is None else float(f"{sum(learn) / len(learn) * row_s / 3600:.3g}"),
            "row_time_s": row_s, "row_time_source": runs[0]["row_time_source"],
            "best_epoch": round(_mean(runs, "best_epoch"), 1), "epochs_run": round(_mean(runs, "epochs"), 1),
            "twin_r2": round(sum(r2) / len(r2), 3) if r2 else None,
            "wall_s": round(_mean(runs, "wall_s"), 1),
            "epochs": cell["configs"][0].epochs, "n_train": b.get("max_train") or "all",
            "n_test": b.get("max_test") or "all", "spec": cell["configs"][0].system,
            "seed_accs": [round(r["test_acc"], 4) for r in runs],
        })
        reach = [cost_to_reach([r["history"] for r in runs], t) for t in TARGETS.get(cell["dataset"], ())]
        row["reach"] = reach
        row["reach_text"] = " ".join(reach_text(c) for c in reach)
        row["curve"] = mean_curve([r["history"] for r in runs])
        rows.append(row)
    return rows


def verdicts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (data set, system, profile): on the two mean curves of test accuracy against device rows, does
    a model-free method reach ``pat``'s final accuracy with fewer rows than ``pat``'s own curve needs to reach
    it, and where does it stand when it has spent as many rows as ``pat`` in all? One plain sentence each."""
    out = []
    groups: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["system"], r["profile"]), {})[r["method"]] = r
    for (ds, system, profile), by in groups.items():
        pat = by.get("pat")
        if pat is None:
            continue
        target = pat["acc"]
        pat_need = rows_at_accuracy(pat["curve"], target) or pat["rows"]
        for m in MODEL_FREE:
            r = by.get(m)
            if r is None:
                continue
            need = rows_at_accuracy(r["curve"], target)
            at_pat = accuracy_at_rows(r["curve"], pat["rows"])
            wins = need is not None and need < pat_need
            head = (f"{ds}/{system}/{profile}: pat's curve reaches its final {100 * target:.1f}% "
                    f"at {pat_need:,.0f} rows; ")
            if wins:
                text = head + f"{m} reaches it at {need:,.0f} rows: {m} wins on rows ({pat_need / need:.2f}x fewer)"
            else:
                text = head + f"{m} " + (f"needs {need:,.0f} rows" if need is not None else "never reaches it") + \
                    ": pat wins on rows"
            text += (f"; with pat's {pat['rows']:,d} rows spent {m} is at "
                     + (f"{100 * at_pat:.1f}%" if at_pat is not None else "no point yet")
                     + f", final {100 * r['acc']:.1f}% vs pat {100 * target:.1f}%"
                     f"; digital FLOPs {r['gflop']:.1f} G vs pat {pat['gflop']:.1f} G (twin fit "
                     f"{pat['gflop_twin']:.1f} G), rows per prediction {r['per_pred']} vs {pat['per_pred']}")
            out.append({"dataset": ds, "system": system, "profile": profile, "method": m, "model_free_wins": wins,
                        "rows_to_pat_final": need, "pat_rows_to_final": pat_need, "pat_rows": pat["rows"],
                        "pat_acc": target, "acc_at_pat_rows": at_pat, "text": text})
    return out


def write_plots(rows: list[dict[str, Any]], folder: Path, stem: str) -> list[str]:
    """One PNG per (data set, system, profile): test accuracy against device rows for every method."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["system"], r["profile"]), []).append(r)
    paths = []
    for (ds, system, profile), rs in groups.items():
        first = rs[0]
        path = plot_curves({r["method"]: r["curve"] for r in rs},
                           {"mlp-2x256": first["mlp-2x256"], "logreg": first["logreg"]},
                           {f"rf ({r['method']}'s passes)": (r["rf_rows"], r["rf"]) for r in rs[:1]},
                           folder / f"{stem}-{ds}-{system}-{profile}.png",
                           f"{ds}, {first['spec']}, profile {profile}, {first['seeds']} seeds")
        if path is not None:
            paths.append(str(path))
    return paths


COLUMNS = ("dataset", "system", "profile", "method", "seeds", "acc", "acc_std", "ablation_method") + PEERS + (
    "rows", "rows_twin", "per_pred", "gflop", "gflop_twin", "hw_h", "params", "best_epoch", "reach_text")


def _csv(value: str | None, allowed: Sequence[str], what: str) -> list[str]:
    if not value:
        return list(allowed)
    items = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in items if v not in allowed]
    if bad:
        raise ConfigError(f"unknown {what} {bad}; choose from {', '.join(allowed)}")
    return items


def main(argv: Sequence[str]) -> int:
    """Run the physical-training benchmark."""
    p = argparse.ArgumentParser(prog="hwsim bench physical", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny subsets and few epochs (a few minutes; for tests)")
    p.add_argument("--json", metavar="FILE", help="write the table, curves, verdicts and every run as JSON")
    p.add_argument("--plots", metavar="DIR", help="folder for the accuracy-vs-rows PNGs (default: beside --json)")
    p.add_argument("--seeds", type=int, help="seeds per cell (default 5; --quick 2)")
    p.add_argument("--datasets", help=f"comma-separated subset of {','.join(DATASETS)} "
                                      "(default: vowels7,digits,mnist1d)")
    p.add_argument("--systems", help=f"comma-separated subset of {','.join(SYSTEMS)}")
    p.add_argument("--methods", help=f"comma-separated subset of {','.join(METHODS)}")
    p.add_argument("--profiles", help="comma-separated profiles (default: ideal, and ideal,lab on mnist1d)")
    p.add_argument("--epochs", type=int, help="override every cell's epochs")
    p.add_argument("--store", metavar="DIR",
                   help="keep each finished run in DIR; running the same command again skips them (resume)")
    add_backend_options(p, default_jobs=min(2, os.cpu_count() or 1), jobs_flags=("--jobs", "--workers"))
    args = p.parse_args(argv)
    backend = backend_from_args(args)  # --ray without Ray stops here, before any work
    mode = "quick" if args.quick else "full"
    seeds = args.seeds or (2 if args.quick else 5)
    if seeds < 1:
        raise ConfigError("--seeds must be at least 1")
    datasets = _csv(args.datasets or "vowels7,digits,mnist1d", tuple(DATASETS), "data sets")
    profiles = _csv(args.profiles, tuple(profile_names()), "profiles") if args.profiles else None
    cells = plan(mode, datasets, _csv(args.systems, SYSTEMS, "systems"), _csv(args.methods, METHODS, "methods"),
                 seeds, profiles, {"epochs": args.epochs} if args.epochs else None)
    if not cells:
        raise ConfigError("nothing to run: the chosen data sets and systems do not meet (vowels run on acoustic only)")
    configs = [c for cell in cells for i, cfg in enumerate(cell["configs"])
               for c in (cfg, *cell["peers"][i].values())]
    results, report = run_all(configs, backend, args.store)
    elapsed = report.elapsed_s
    rows = rows_for(cells, results)
    claims = verdicts(rows)
    folder = Path(args.plots) if args.plots else (Path(args.json).parent if args.json else None)
    stem = Path(args.json).stem if args.json else "physical"
    plots = write_plots(rows, folder, stem) if folder is not None else []
    write_bench(args.json, "physical", rows, COLUMNS, mode=mode, seeds=seeds, backend=report.backend,
                ran=report.ran, skipped=report.skipped, placement=report.placement(), elapsed_s=round(elapsed, 1),
                system_specs=SYSTEM_SPECS, verdicts=claims, plots=plots,
                note="rows: device rows of training and twin data; gflop: digital FLOPs of training and twin fit "
                     "(torch FlopCounterMode); hw_h: rows x the system's declared time per row; wall_s is per run, "
                     "measured with --jobs runs sharing the machine (or on the Ray workers of --ray)",
                runs=[{"key": json.loads(k), "result": v} for k, v in results.items()])
    for c in claims:
        print(c["text"])
    for path in plots:
        print(f"wrote {path}")
    print("\n".join(report.summary_lines()))
    return 0
