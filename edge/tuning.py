"""MetaSchedule tuning with a persistent database.

A database is a folder of MetaSchedule JSON files (``database_workload.json``,
``database_tuning_record.json``) plus ``key.json`` saying what it was tuned for. Its name is a hash of
(the model's IRModule structure + parameter shapes, the target), under
``hwsim.data.cache_dir("tvm-tuning")`` by default. A compile that finds a database already tuned with at
least the requested trials applies its records without tuning again.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from edge.errors import TuningError

KEY_FILE = "key.json"
RECORDS_FILE = "database_tuning_record.json"
_smoke_checked: list[bool] = []


def database_dir(model_hash: str, target_json: str, root: str | os.PathLike | None = None) -> Path:
    """The database folder for a model structure and a target (created if missing)."""
    if root is None:
        from hwsim.data import cache_dir

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
    from edge.tvm_quirks import ffi_smoke

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
         num_threads: int | None = None, seed: int = 0) -> dict[str, Any]:
    """Tune every task of ``mod`` (a legalized and fused Relax IRModule) for ``target`` with ``trials``
    MetaSchedule trials per task, measuring on this machine, unless ``work_dir`` already holds a tuning
    with at least that many trials for the same model and target. Returns ``{records, tasks, trials,
    seconds, reused}``."""
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
    from edge.tvm_quirks import preload_meta_schedule, worker_init

    preload_meta_schedule()
    from tvm.s_tir import meta_schedule as ms
    from tvm.s_tir.meta_schedule.relax_integration import extract_tasks, extracted_tasks_to_tune_contexts
    from tvm.s_tir.meta_schedule.tune import tune_tasks

    from edge.targets import physical_cores

    threads = num_threads or physical_cores()
    t0 = time.perf_counter()
    tasks = [t for t in extract_tasks(inference_only(mod), target) if not t.mod.attrs or
             not t.mod.attrs.get("tirx.is_scheduled", False)]
    if not tasks:
        raise TuningError("the model has no tunable operators")
    contexts, weights = extracted_tasks_to_tune_contexts(tasks, str(work_dir), num_threads=threads, seed=seed)
    # generous timeouts: a build worker first imports tvm, which takes long on a busy machine, and a
    # timed-out build is retried in a fresh worker that imports tvm again
    builder = ms.builder.LocalBuilder(max_workers=threads, timeout_sec=300.0, initializer=worker_init)
    runner = ms.runner.LocalRunner(timeout_sec=120.0, initializer=worker_init,
                                   evaluator_config=ms.runner.EvaluatorConfig(number=5, repeat=1,
                                                                              min_repeat_ms=20))
    try:
        tune_tasks(tasks=contexts, task_weights=weights, work_dir=str(work_dir),
                   max_trials_global=trials * len(contexts), max_trials_per_task=trials,
                   num_trials_per_iter=min(64, trials), builder=builder, runner=runner)
    except Exception as exc:  # noqa: BLE001 - MetaSchedule raises TVMError subclasses
        raise TuningError(f"MetaSchedule tuning failed for {target_json}: {exc}") from exc
    seconds = time.perf_counter() - t0
    key = {"model_hash": model_hash, "target": target_json, "trials": trials, "tasks": len(contexts),
           "seconds": round(seconds, 2), "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    (work_dir / KEY_FILE).write_text(json.dumps(key, indent=2) + "\n")
    return {"records": record_count(work_dir), "tasks": len(contexts), "trials": trials, "seconds": seconds,
            "reused": False}
