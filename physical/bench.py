"""``hwsim bench physical``: systems x methods x data sets, test accuracy over seeds, measurements,
wall-clock, with the physical-off ablation and logistic regression beside every row.

Each row is one (data set, system, method) over ``--seeds`` seeds: mean and sample std of the final
test accuracy (no early stopping, no best-epoch picking), the same for the method's ablation (the
same network and training with the physical layer switched off: ``digital`` for ``mfff``, plain
backpropagation for ``pat``/``insilico``) and for logistic regression on the same split, the device
rows each run measured (training + twin data; evaluation separately) and its wall-clock.

A device row costs from about 0.05 ms (optical, acoustic) to several ms (microwave, Duffing and
oscillator networks integrate ODEs or solve a scattering problem per row), so the slow systems run
on a smaller subset of the training and test data; every row states the subset it used.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from typing import Any, Sequence

from hwsim.errors import ConfigError

SYSTEMS = ("optical", "acoustic", "microwave", "duffing", "oscillators")
METHODS = ("mfff", "pat", "insilico")
# the device spec each system is benchmarked with: a 256-pixel camera gives the optical layer room;
# 64 speakers driving the 16 Duffing resonators save chunking the input
SYSTEM_SPECS = {"optical": "optical?n_out=256&pool=1", "acoustic": "acoustic", "microwave": "microwave",
                "duffing": "duffing?n_in=64", "oscillators": "oscillators"}
SLOW = ("microwave", "duffing", "oscillators")
DATASET_SYSTEMS = {"vowels7": ("acoustic",), "vowels12": ("acoustic",), "digits": SYSTEMS, "mnist1d": SYSTEMS}

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


def plan(mode: str, datasets: Sequence[str], systems: Sequence[str], methods: Sequence[str], seeds: int,
         extra: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The cells of the bench: one per (data set, system, method) with the configs of its seeds."""
    from physical.trainer import make_config

    cells = []
    for ds in datasets:
        for system in DATASET_SYSTEMS.get(ds, SYSTEMS):
            if system not in systems:
                continue
            speed = "slow" if system in SLOW else "fast"
            budget = dict(BUDGETS.get((mode, ds, speed)) or BUDGETS[(mode, ds, "fast")])
            if mode == "quick":
                budget.update(QUICK_TWIN)
            budget.update(extra or {})
            for method in methods:
                cfgs = [make_config(ds, system=SYSTEM_SPECS.get(system, system), method=method, seed=s,
                                    eval_every=10 ** 6, eval_train_samples=0, **budget) for s in range(seeds)]
                cells.append({"dataset": ds, "system": system, "method": method, "budget": budget, "configs": cfgs})
    return cells


def ablation_of(cfg: Any) -> Any:
    """The physical-off twin of a run (``pat`` and ``insilico`` share one: plain backpropagation)."""
    off = cfg.ablation()
    return replace(off, method="pat") if off.method == "insilico" else off


def logreg_of(cfg: Any) -> Any:
    """Logistic regression on the same split and subset as a run."""
    return replace(cfg, method="logreg", physical=False)


def _key(cfg: Any) -> str:
    d = cfg.to_dict()
    if not cfg.uses_device:
        d["system"] = None  # a run without the device does not depend on the system
    return json.dumps(d, sort_keys=True)


def _run(cfg_dict: dict[str, Any]) -> dict[str, Any]:
    import torch

    from physical.trainer import TrainConfig, train

    torch.set_num_threads(1)
    return train(TrainConfig.from_dict(cfg_dict), record=False).to_dict()


def _report(done: int, total: int, cfg: Any, result: dict[str, Any]) -> None:
    """One line per finished run on stderr when there is no progress bar (a log file, not under CI)."""
    from hwsim.progress import progress_enabled

    if progress_enabled() or os.environ.get("HWSIM_QUIET") or os.environ.get("CI"):
        return
    where = cfg.system if cfg.uses_device else "physical off"
    print(f"[{done}/{total}] {cfg.dataset} {where} {cfg.method} seed {cfg.seed}: acc {result['test_acc']:.4f}, "
          f"{result['measurements']} rows, {result['wall_s']:.1f} s", file=sys.stderr, flush=True)


def run_all(configs: list[Any], jobs: int) -> dict[str, dict[str, Any]]:
    """Run every distinct config once (``jobs`` processes in parallel); results keyed by :func:`_key`."""
    from hwsim.progress import progress

    unique: dict[str, Any] = {}
    for cfg in configs:
        unique.setdefault(_key(cfg), cfg)
    # device-heavy runs first, so the cheap ones fill the gaps at the end
    order = sorted(unique, key=lambda k: (not unique[k].uses_device, k))
    results: dict[str, dict[str, Any]] = {}
    bar = progress(total=len(order), desc="bench physical")
    try:
        if jobs <= 1:
            for k in order:
                results[k] = _run(unique[k].to_dict())
                bar.update(1)
                _report(len(results), len(order), unique[k], results[k])
        else:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor, as_completed

            with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("fork")) as pool:
                futures = {pool.submit(_run, unique[k].to_dict()): k for k in order}
                for fut in as_completed(futures):
                    k = futures[fut]
                    results[k] = fut.result()
                    bar.update(1)
                    _report(len(results), len(order), unique[k], results[k])
    finally:
        bar.close()
    return results


def _stats(results: list[dict[str, Any]], key: str) -> tuple[float, float]:
    from hwsim.report import mean_std

    return mean_std(float(r[key]) for r in results)


def rows_for(cells: list[dict[str, Any]], results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One table row per cell, with its ablation and logistic regression beside it."""
    rows = []
    for cell in cells:
        runs = [results[_key(c)] for c in cell["configs"]]
        off = [results[_key(ablation_of(c))] for c in cell["configs"]]
        lr = [results[_key(logreg_of(c))] for c in cell["configs"]]
        acc, acc_sd = _stats(runs, "test_acc")
        off_acc, off_sd = _stats(off, "test_acc")
        lr_acc, lr_sd = _stats(lr, "test_acc")
        meas, _ = _stats(runs, "measurements_train")
        twin, _ = _stats(runs, "measurements_twin")
        evalm, _ = _stats(runs, "measurements_eval")
        wall, _ = _stats(runs, "wall_s")
        b = cell["budget"]
        r2 = [r["extra"].get("twin_r2") for r in runs if r["extra"].get("twin_r2") is not None]
        rows.append({
            "dataset": cell["dataset"], "system": cell["system"], "method": cell["method"], "seeds": len(runs),
            "acc": round(acc, 4), "acc_std": round(acc_sd, 4),
            "ablation": off[0]["method"] + ("" if off[0]["method"] == "digital" else "-off"),
            "abl_acc": round(off_acc, 4), "abl_std": round(off_sd, 4), "gain": round(acc - off_acc, 4),
            "logreg": round(lr_acc, 4), "logreg_std": round(lr_sd, 4),
            "meas_train": int(round(meas + twin)), "meas_twin": int(round(twin)), "meas_eval": int(round(evalm)),
            "per_pred": runs[0]["measurements_per_prediction"],
            "twin_r2": round(sum(r2) / len(r2), 3) if r2 else None,
            "wall_s": round(wall, 2), "abl_wall_s": round(_stats(off, "wall_s")[0], 2),
            "epochs": cell["configs"][0].epochs,
            "n_train": b.get("max_train") or "all", "n_test": b.get("max_test") or "all",
            "spec": cell["configs"][0].system,
            "seed_accs": [round(r["test_acc"], 4) for r in runs],
        })
    return rows


COLUMNS = ("dataset", "system", "method", "seeds", "acc", "acc_std", "ablation", "abl_acc", "abl_std", "gain",
           "logreg", "meas_train", "meas_twin", "per_pred", "twin_r2", "wall_s", "epochs", "n_train", "n_test")


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
    from hwsim.report import write_bench
    from physical.datasets import DATASETS

    p = argparse.ArgumentParser(prog="hwsim bench physical", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny subsets and few epochs (a few minutes; for tests)")
    p.add_argument("--json", metavar="FILE", help="write the table and every run's numbers as JSON")
    p.add_argument("--seeds", type=int, help="seeds per cell (default 5; --quick 2)")
    p.add_argument("--datasets", help=f"comma-separated subset of {','.join(DATASETS)} "
                                      "(default: vowels7,digits,mnist1d)")
    p.add_argument("--systems", help=f"comma-separated subset of {','.join(SYSTEMS)}")
    p.add_argument("--methods", help=f"comma-separated subset of {','.join(METHODS)}")
    p.add_argument("--epochs", type=int, help="override every cell's epochs")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="parallel runs (default 2)")
    args = p.parse_args(argv)
    mode = "quick" if args.quick else "full"
    seeds = args.seeds or (2 if args.quick else 5)
    if seeds < 1:
        raise ConfigError("--seeds must be at least 1")
    datasets = _csv(args.datasets or "vowels7,digits,mnist1d", tuple(DATASETS), "data sets")
    cells = plan(mode, datasets, _csv(args.systems, SYSTEMS, "systems"), _csv(args.methods, METHODS, "methods"),
                 seeds, {"epochs": args.epochs} if args.epochs else None)
    if not cells:
        raise ConfigError("nothing to run: the chosen data sets and systems do not meet (vowels run on acoustic only)")
    configs = [c for cell in cells for cfg in cell["configs"] for c in (cfg, ablation_of(cfg), logreg_of(cfg))]
    t0 = time.perf_counter()
    results = run_all(configs, args.jobs)
    elapsed = time.perf_counter() - t0
    rows = rows_for(cells, results)
    write_bench(args.json, "physical", rows, COLUMNS, mode=mode, seeds=seeds, jobs=args.jobs,
                elapsed_s=round(elapsed, 1), system_specs=SYSTEM_SPECS,
                note="wall_s is per run, measured with --jobs runs sharing the machine",
                runs=[{"key": json.loads(k), "result": v} for k, v in results.items()])
    print(f"{len(results)} runs in {elapsed:.0f} s")
    return 0
