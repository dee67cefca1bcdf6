"""MetaSchedule tuning with a persistent database.

A database is a folder of MetaSchedule JSON files (``database_workload.json``,
``database_tuning_record.json``) plus ``key.json`` saying what it was tuned for. Its name is a hash of
(the model's IRModule structure + parameter shapes, the target), under
``hwsim.data.cache_dir("tvm-tuning")`` by default. A compile that finds a database already tuned with at
least the requested trials applies its records without tuning again.

Tuning records are per operator workload, so before tuning a model the records of identical workloads
(same fused operator, shapes and dtypes) are copied in from the other databases of the same target,
and a task that already has its budget of measured candidates is not tuned again: the digits CNN and
the early-exit CNN share their largest convolution, and the early-exit stages share everything with
the whole network. On CPUs each task's default schedule is measured and committed first
(:mod:`edge.tuning_seed`), so the build never takes a tuned schedule slower than it. Budgets:
``trials`` candidates per task that does real arithmetic, at most ``LIGHT_TRIALS`` for a task under
``LIGHT_FLOP`` floating-point operations (pooling, layout changes, small heads) and ``TINY_TRIALS``
under ``TINY_FLOP`` (reshapes, scalar logic of control flow): a few microseconds whatever the schedule.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from edge.errors import TuningError
from edge.pooled_builder import pooled_builder
from edge.targets import physical_cores
from edge.tracker import BoardFarm
from edge.tuning_seed import commit_default_records
from edge.tvm_quirks import ffi_smoke, meta_schedule_logging_safe, preload_meta_schedule, worker_init
from hwsim.data import cache_dir

KEY_FILE = "key.json"
RECORDS_FILE = "database_tuning_record.json"
LIGHT_FLOP = 1e6
MAJOR_SHARE = 0.05  # a task with this share of the model's FLOPs gets the full budget ...
MAJOR_MIN_FLOP = 32e3  # ... if it is not tiny: below this a kernel runs in well under a microsecond here
LIGHT_TRIALS = 32
TINY_FLOP = 4096
TINY_TRIALS = 8
_smoke_checked: list[bool] = []


def task_budget(flop: float, trials: int, model_flop: float = 0.0) -> int:
    """Measured candidates for one task of ``flop`` floating-point operations when ``trials`` are asked:
    all of them for a task of at least 1 MFLOP, or of at least 32 KFLOP and :data:`MAJOR_SHARE` of
    ``model_flop`` (the FLOPs of one run of the whole model); fewer for light tasks."""
    if flop >= LIGHT_FLOP or (model_flop > 0 and flop >= max(MAJOR_SHARE * model_flop, MAJOR_MIN_FLOP)):
        return trials
    return min(trials, LIGHT_TRIALS if flop >= TINY_FLOP else TINY_TRIALS)


def database_dir(model_hash: str, target_json: str, root: str | os.PathLike | None = None) -> Path:
    """The database folder for a model structure and a target (created if missing)."""
    if root is None:
        root = cache_dir("tvm-tuning")
    digest = hashlib.sha256(f"{model_hash}|{target_json}".encode()).hexdigest()[:24]
    path = Path(root) / digest
    path.mkdir(parents=True, exist_ok=True)
    return path


def record_count(work_dir: str | os.PathLike) -> int:
    """Number of tuning records stored in a database folder."""
    path = Path(work_dir) / RECORDS_FILE
    if not path.exists():
        return 0
    with open(path) as fh:
        return sum(1 for line in fh if line.strip())


def read_key(work_dir: str | os.PathLike) -> dict[str, Any]:
    """What a database folder was tuned for (empty when never tuned)."""
    path = Path(work_dir) / KEY_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _check_ffi() -> None:
    if _smoke_checked:
        return
    ok, detail = ffi_smoke()
    if not ok:
        raise TuningError(f"MetaSchedule does not work with the installed TVM packages ({detail}). "
                          "apache-tvm-ffi 0.1.15.x crashes MetaSchedule with apache-tvm 0.27.0.post1: "
                          "pip install 'apache-tvm-ffi==0.1.14.post1'")
    _smoke_checked.append(True)


def inference_only(mod: Any) -> Any:
    """``mod`` without the lifted weight transforms (run once at compile time: not worth tuning)."""
    import tvm
    from tvm import relax

    kept = tvm.IRModule({gv: f for gv, f in mod.functions_items() if gv.name_hint != "main_transform_params"},
                        attrs=mod.attrs)
    return relax.transform.DeadCodeElimination(["main"])(kept)


def tune(mod: Any, target: Any, trials: int, work_dir: str | os.PathLike, model_hash: str,
         num_threads: int | None = None, seed: int = 0, farm: BoardFarm | None = None) -> dict[str, Any]:
    """Tune the tasks of ``mod`` (a legalized and fused Relax IRModule) for ``target`` with up to ``trials``
    MetaSchedule trials per task (see :func:`task_budget`), measuring on this machine with
    ``num_threads`` threads per kernel, unless ``work_dir`` already holds a tuning with at least that many
    trials for the same model and target. Records of identical workloads are first taken from the
    target's other databases (:func:`import_shared_records`); tasks that have their budget are skipped.
    With ``farm`` the candidates are measured on the boards behind a TVM RPC tracker instead, one at a
    time per board, all boards at once (``farm`` in the result: boards and the most busy at once).
    Returns ``{records, tasks, tasks_tuned, records_imported, default_records, trials, seconds, reused}``."""
    if trials <= 0:
        raise TuningError("tune_trials must be positive to tune")
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    target_json = str(target)
    key = read_key(work_dir)
    if (key.get("model_hash") == model_hash and key.get("target") == target_json
            and int(key.get("trials", 0)) >= trials and record_count(work_dir) > 0):
        return {"records": record_count(work_dir), "tasks": key.get("tasks"), "trials": key["trials"],
                "seconds": 0.0, "reused": True, "tuned_seconds": key.get("seconds")}
    _check_ffi()
    preload_meta_schedule()
    from tvm.s_tir import meta_schedule as ms
    from tvm.s_tir.meta_schedule.relax_integration import extract_tasks, extracted_tasks_to_tune_contexts
    from tvm.s_tir.meta_schedule.tune import tune_tasks

    threads = num_threads or physical_cores()
    t0 = time.perf_counter()
    tasks = [t for t in extract_tasks(inference_only(mod), target) if not t.mod.attrs or
             not t.mod.attrs.get("tirx.is_scheduled", False)]
    if not tasks:
        raise TuningError("the model has no tunable operators")
    own = ms.database.JSONDatabase(work_dir=str(work_dir))
    imported = import_shared_records(tasks, target_json, own, work_dir)
    measured = measured_counts(tasks, own)
    flops = [estimate_flop(t.mod) for t in tasks]
    model_flop = sum(f * int(t.weight) for f, t in zip(flops, tasks))
    budgets = [task_budget(f, trials, model_flop) for f in flops]
    todo = [(t, b) for t, b, n in zip(tasks, budgets, measured) if n < b]
    # generous timeouts: a build worker first imports tvm, which takes long on a busy machine, and a
    # timed-out build is retried in a fresh worker that imports tvm again
    # candidates compile in parallel on every core, in workers kept across rounds; they are measured one
    # at a time with ``threads`` threads
    builder = pooled_builder(max_workers=max(threads, physical_cores()), timeout_sec=300.0, initializer=worker_init)
    evaluator = ms.runner.EvaluatorConfig(number=5, repeat=1, min_repeat_ms=20)
    runner = (farm.runner(evaluator, initializer=worker_init) if farm is not None else
              ms.runner.LocalRunner(timeout_sec=120.0, initializer=worker_init, evaluator_config=evaluator))
    monitor = farm.monitor() if farm is not None else None
    try:
        seeded = (commit_default_records([t for t, _ in todo], target, own, builder, runner)
                  if target.kind.name == "llvm" else 0)
        for budget in sorted({b for _, b in todo}):
            group = [t for t, b in todo if b == budget]
            with meta_schedule_logging_safe():
                contexts, weights = extracted_tasks_to_tune_contexts(group, str(work_dir), num_threads=threads,
                                                                     seed=seed)
            tune_tasks(tasks=contexts, task_weights=weights, work_dir=str(work_dir),
                       max_trials_global=budget * len(contexts), max_trials_per_task=budget,
                       num_trials_per_iter=min(64, budget), builder=builder, runner=runner)
    except Exception as exc:  # noqa: BLE001 - MetaSchedule raises TVMError subclasses
        raise TuningError(f"MetaSchedule tuning failed for {target_json}: {exc}") from exc
    finally:
        builder.shutdown()
        measured_on = monitor.stop() if monitor is not None else None
    seconds = time.perf_counter() - t0
    key = {"model_hash": model_hash, "target": target_json, "trials": trials, "tasks": len(tasks),
           "tasks_tuned": len(todo), "records_imported": imported, "default_records": seeded,
           "seconds": round(seconds, 2),
           "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    (work_dir / KEY_FILE).write_text(json.dumps(key, indent=2) + "\n")
    return {"records": record_count(work_dir), "tasks": len(tasks), "tasks_tuned": len(todo),
            "records_imported": imported, "default_records": seeded, "trials": trials, "seconds": seconds,
            "reused": False,
            **({"farm": measured_on} if measured_on else {})}


def estimate_flop(func_mod: Any) -> float:
    """Floating-point operations of one tuning task (TIR estimate; 0 when TVM cannot tell)."""
    from tvm.s_tir.analysis import estimate_tir_flops

    try:
        return float(estimate_tir_flops(func_mod))
    except Exception:  # noqa: BLE001 - data-dependent loops have no estimate
        return 0.0


def measured_counts(tasks: list[Any], db: Any) -> list[int]:
    """Measured candidates already in the MetaSchedule database ``db`` for each task's workload."""
    return [len(db.get_top_k(db.commit_workload(t.mod), 1 << 30)) if db.has_workload(t.mod) else 0 for t in tasks]


def import_shared_records(tasks: list[Any], target_json: str, own: Any, work_dir: Path) -> int:
    """Copy into ``own`` (the MetaSchedule database in ``work_dir``) the records that the other databases
    under its parent folder, tuned for the same target, hold for these tasks' workloads (only for
    workloads ``own`` has none of). Returns the number of records copied."""
    from tvm.s_tir import meta_schedule as ms

    missing = [t for t in tasks if not own.has_workload(t.mod)]
    copied = 0
    for other_dir in sorted(work_dir.parent.iterdir()):
        if not missing:
            break
        if other_dir == work_dir or read_key(other_dir).get("target") != target_json:
            continue
        try:
            other = ms.database.JSONDatabase(work_dir=str(other_dir), allow_missing=False)
        except Exception:  # noqa: BLE001 - a folder whose tuning never wrote records
            continue
        still = []
        for task in missing:
            if not other.has_workload(task.mod):
                still.append(task)
                continue
            records = other.get_top_k(other.commit_workload(task.mod), 1 << 30)
            workload = own.commit_workload(task.mod)
            for r in records:
                own.commit_tuning_record(ms.database.TuningRecord(r.trace, workload, r.run_secs, r.target,
                                                                  r.args_info))
            copied += len(records)
        missing = still
    return copied
