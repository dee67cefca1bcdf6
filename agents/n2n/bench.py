"""``hwsim bench compress``: N2N against its baselines on one teacher, over seeds, in one table.

The teacher is ``--teacher`` of the zoo (default ``resnet``) on ``--dataset`` (default ``digits``);
every method of every seed searches and distils students of that one teacher, and the JSON records
both (``teacher_model``, ``dataset``) beside the teacher's metrics.

Per seed: N2N (both stages, parameter reward, stage 2 constrained to ``--max-params-ratio`` of the
teacher's parameters, default 0.1: a 10x target); its stage-1 best alone (ablation: removal only);
random search with the same number of distinct students per stage (``staged``: the two-stage
structure without learning); and the teacher shrunk uniformly to N2N's parameter count. Every found
student is then distilled for the same final budget and tested. All methods share one student
evaluation (same distillation, same seeds) and one cache, so a student is scored identically
whichever method asks for it; the first N2N run starts with an empty cache, so its time is that of
a standalone run.

Then, unless ``--latency none``, the latency experiment: N2N with the estimated-latency reward on
``--target`` (its estimate calibrated there first with ``--latency measured``), reporting the chosen
student's parameter ratio, estimated latency ratio and, with ``measured``, the latency ratio of the
compiled student and teacher timed with ``edge`` (also for seed 0's parameter-reward student).

Times are wall-clock on a possibly shared machine; CPU seconds are reported next to them.
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Sequence

from agents.n2n.cache import StudentCache
from agents.n2n.cli import add_student_backend_options, add_task_options, task_config
from agents.n2n.reinforce import ReinforceConfig
from agents.n2n.rollouts import make_pool
from agents.n2n.search import random_search, uniform_shrink
from agents.n2n.task import N2NTask
from agents.n2n.trainer import N2NConfig, N2NTrainer, cpu_seconds, final_report, measured_latency_ratio
from hwsim.errors import ConfigError
from hwsim.jobs import backend_from_args
from hwsim.report import mean_std, write_bench

SETTINGS = {
    "full": {"seeds": 3, "removal_updates": 12, "shrink_updates": 12, "rollouts": 5, "distill_epochs": 4,
             "final_epochs": 30, "quick_teacher": False, "latency": "measured"},
    "quick": {"seeds": 1, "removal_updates": 2, "shrink_updates": 2, "rollouts": 3, "distill_epochs": 1,
              "final_epochs": 2, "quick_teacher": True, "latency": "est"},
}
METRICS = ("reward", "compression", "params_ratio", "test_acc", "acc_drop_pts", "latency_est_ratio")
COLUMNS = ("method", "seeds", "students", "reward", "reward_std", "compression", "compression_std", "test_acc",
           "test_acc_std", "acc_drop_pts", "acc_drop_pts_std", "params_ratio", "latency_est_ratio", "latency_ratio",
           "new_evaluations", "search_wall_s", "search_cpu_s")


def _row(method: str, seed: int, report: dict[str, Any], students: int, wall: float | None, cpu: float | None,
         new: int | None = None) -> dict[str, Any]:
    return {"method": method, "seed": seed, "students": students, "new_evaluations": new, "reward": report["reward"],
            "compression": report["compression"], "params_ratio": report["params_ratio"],
            "test_acc": report["final"]["test_acc"], "acc_drop_pts": 100 * report["test_acc_drop"],
            "latency_est_ratio": report["latency_est_ratio"], "arch": report["arch"],
            "search_wall_s": wall, "search_cpu_s": cpu}


def aggregate(per_seed: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per method: mean and sample standard deviation over seeds of each metric."""
    rows = []
    for method in dict.fromkeys(r["method"] for r in per_seed):
        rs = [r for r in per_seed if r["method"] == method]
        row: dict[str, Any] = {"method": method, "seeds": len(rs),
                               "students": sum(r["students"] for r in rs) / len(rs)}
        for key in METRICS:
            row[key], row[f"{key}_std"] = mean_std(r[key] for r in rs)
        for key in ("new_evaluations", "search_wall_s", "search_cpu_s", "latency_ratio"):
            vals = [r[key] for r in rs if r.get(key) is not None]
            row[key] = sum(vals) / len(vals) if vals else None
        rows.append(row)
    return rows


def main(argv: Sequence[str]) -> int:
    """Run the compression benchmark and print / write its table."""
    import torch


    p = argparse.ArgumentParser(prog="hwsim bench compress", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_task_options(p, distill_epochs=None, max_params_ratio=0.1)
    p.add_argument("--json", default=None, metavar="FILE", help="write the table and every run's numbers here")
    p.add_argument("--seeds", type=int, default=None, help="search seeds (default: 3; --quick: 1)")
    p.add_argument("--removal-updates", type=int, default=None)
    p.add_argument("--shrink-updates", type=int, default=None)
    p.add_argument("--rollouts", type=int, default=None)
    p.add_argument("--final-epochs", type=int, default=None)
    p.add_argument("--lr", type=float, default=ReinforceConfig.lr)
    p.add_argument("--latency", choices=("none", "est", "measured"), default=None,
                   help="latency experiment: none, estimated only, or calibrated and measured with edge "
                        "(default: measured; --quick: est)")
    p.add_argument("--runs-dir", default="runs/bench-compress", help="where the N2N runs are recorded")
    add_student_backend_options(p)
    args = p.parse_args(argv)
    s = dict(SETTINGS["quick" if args.quick else "full"])
    for key in ("seeds", "removal_updates", "shrink_updates", "rollouts", "final_epochs", "latency"):
        if getattr(args, key) is not None:
            s[key] = getattr(args, key)
    if args.distill_epochs is None:
        args.distill_epochs = s["distill_epochs"]
    args.quick = args.quick or s["quick_teacher"]
    if s["seeds"] < 1:
        raise ConfigError("--seeds must be at least 1")
    torch.set_num_threads(1)
    started = time.perf_counter()

    cfg = task_config(replace_ns(args, calibrate=False))
    pool = make_pool(cfg, backend_from_args(args))
    cache = StudentCache(cfg.context())
    task = N2NTask(cfg, cache=cache, pool=pool)
    rl = ReinforceConfig(lr=args.lr, rollouts=s["rollouts"])

    def n2n_config(seed: int, task_cfg: Any, name: str) -> N2NConfig:
        return N2NConfig(task=task_cfg, removal_updates=s["removal_updates"], shrink_updates=s["shrink_updates"],
                         reinforce=rl, final_epochs=s["final_epochs"], seed=seed, name=name, root=args.runs_dir)

    per_seed: list[dict[str, Any]] = []
    seed0_model = seed0_arch = None
    try:
        for seed in range(s["seeds"]):
            trainer = N2NTrainer(n2n_config(seed, cfg, f"n2n-{cfg.teacher}-{cfg.dataset}-s{seed}"), task=task)
            t0, c0, m0 = time.perf_counter(), cpu_seconds(), cache.misses
            state = trainer.search()
            wall, cpu, new = time.perf_counter() - t0, cpu_seconds() - c0, cache.misses - m0
            best = state.final()
            model, rep = final_report(task, best, s["final_epochs"])
            if seed == 0:
                seed0_model, seed0_arch = model, best.arch
            per_seed.append(_row("n2n", seed, rep, state.students(), wall, cpu, new))
            stage1 = state.best.get("removal")
            if stage1 is not None:
                stage1_report = final_report(task, stage1, s["final_epochs"])[1]
                per_seed.append(_row("n2n removal only (ablation)", seed, stage1_report,
                                     len(state.seen.get("removal", ())), None, None))
            budget = (len(state.seen.get("removal", ())), len(state.seen.get("shrink", ())))
            t0, c0, m0 = time.perf_counter(), cpu_seconds(), cache.misses
            rand = random_search(task, budget, seed=seed, mode="staged", batch=s["rollouts"])
            wall, cpu, new = time.perf_counter() - t0, cpu_seconds() - c0, cache.misses - m0
            per_seed.append(_row("random search (same budget)", seed,
                                 final_report(task, rand.final(), s["final_epochs"])[1], rand.students(), wall, cpu,
                                 new))
            uni = uniform_shrink(task, best.result.params)
            per_seed.append(_row("uniform shrink (same params)", seed, final_report(task, uni, s["final_epochs"])[1], 1,
                                 None, None))
        latency = None
        if s["latency"] != "none":
            latency = _latency_experiment(args, s, task, cache, pool, n2n_config, seed0_model, seed0_arch, per_seed)
    finally:
        if pool is not None:
            pool.close()

    rows = aggregate(per_seed)
    criteria = _criteria(rows, per_seed, task)
    duration = time.perf_counter() - started
    write_bench(args.json, "compress", rows, COLUMNS, teacher_model=cfg.teacher, dataset=cfg.dataset,
                teacher=task.describe()["teacher"], settings=s,
                per_seed=per_seed, latency=latency, criteria=criteria, duration_s=duration,
                students_on=pool.placement if pool is not None else "this process",
                note="wall times on a possibly shared machine; search_cpu_s counts this process and finished workers; "
                     "all methods share one student cache, so a search's time covers only its new_evaluations")
    for name, value in criteria.items():
        print(f"{name}: {value}")
    print(f"duration: {duration:.0f} s")
    return 0


def replace_ns(ns: argparse.Namespace, **changes: Any) -> argparse.Namespace:
    """A copy of ``ns`` with ``changes``."""
    return argparse.Namespace(**{**vars(ns), **changes})


def _latency_experiment(args: argparse.Namespace, s: dict[str, Any], task: Any, cache: Any, pool: Any,
                        n2n_config: Any, seed0_model: Any, seed0_arch: Any,
                        per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    measured = s["latency"] == "measured"
    lat_cfg = task_config_latency(args, measured)
    lat_task = N2NTask(lat_cfg, cache=cache, pool=pool, teacher=task.teacher)
    trainer = N2NTrainer(n2n_config(0, lat_cfg, f"n2n-{lat_cfg.teacher}-{lat_cfg.dataset}-latency"), task=lat_task)
    t0, c0, m0 = time.perf_counter(), cpu_seconds(), cache.misses
    state = trainer.search()
    wall, cpu, new = time.perf_counter() - t0, cpu_seconds() - c0, cache.misses - m0
    best = state.final()
    model, rep = final_report(lat_task, best, s["final_epochs"])
    row = _row(f"n2n latency-est reward ({lat_cfg.target})", 0, rep, state.students(), wall, cpu, new)
    out: dict[str, Any] = {"target": lat_cfg.target, "latency_model": lat_task.latency_model.to_json(),
                           "student": rep["arch"], "params_ratio": rep["params_ratio"],
                           "latency_est_ratio": rep["latency_est_ratio"]}
    if measured:
        m = measured_latency_ratio(lat_task, model, best.arch)
        row["latency_ratio"] = m["ratio"]
        out["measured"] = m
        if seed0_model is not None:
            base = measured_latency_ratio(lat_task, seed0_model, seed0_arch)
            out["params_reward_student_measured"] = base
            for r in per_seed:
                if r["method"] == "n2n" and r["seed"] == 0:
                    r["latency_ratio"] = base["ratio"]
    per_seed.append(row)
    return out


def task_config_latency(args: argparse.Namespace, calibrate: bool) -> Any:
    """The task of the latency experiment: the same teacher and budget, the estimated-latency reward and no
    size constraint (the reward alone decides)."""
    return task_config(replace_ns(args, reward="latency-est", calibrate=calibrate, max_params_ratio=None))


def _criteria(rows: list[dict[str, Any]], per_seed: list[dict[str, Any]], task: Any) -> dict[str, Any]:
    """The issue's acceptance checks, computed from the measured rows."""
    by = {r["method"]: r for r in rows}
    n2n, rnd = by.get("n2n"), by.get("random search (same budget)")
    out: dict[str, Any] = {}
    if n2n:
        runs = [r for r in per_seed if r["method"] == "n2n"]
        out["n2n_compression_min"] = min(r["compression"] for r in runs)
        out["n2n_acc_drop_pts_max"] = max(r["acc_drop_pts"] for r in runs)
        out["n2n_every_seed_10x_within_2pts"] = all(r["compression"] >= 10 and r["acc_drop_pts"] <= 2 for r in runs)
        out["n2n_first_run_wall_s"] = runs[0]["search_wall_s"]
    if n2n and rnd:
        out["n2n_reward_minus_random"] = n2n["reward"] - rnd["reward"]
        out["n2n_at_least_random_reward"] = n2n["reward"] >= rnd["reward"]
        out["n2n_test_acc_minus_random"] = n2n["test_acc"] - rnd["test_acc"]
    out["teacher_test_acc"] = task.teacher_result.test_acc
    return out
