"""The default schedules as measured tuning records: a tuned build is never slower than the untuned one.

MetaSchedule searches its own design space, which does not contain the schedules of
:mod:`edge.cpu_schedules` (packed-weight register tiles), and applies the fastest record it measured
for each operator. With a small budget that record can be slower than the default schedule the
untuned build would have used. Before tuning, each task's default schedule (its trace, replayable like
any record) is built and measured by the same builder and runner the search uses, and committed to the
database; the build then takes, per operator, whichever was faster, and the search's first generation
starts from it.
"""

from __future__ import annotations

from typing import Any

from edge.cpu_schedules import rules


def default_schedule(mod: Any, target: Any) -> Any | None:
    """The schedule the first applicable default rule gives ``mod``'s ``main`` (a traced schedule), or
    None when no rule applies."""
    with target:
        for rule in rules():
            sch = rule.apply(mod["main"], target, False)
            if isinstance(sch, list):
                sch = sch[0] if sch else None
            if sch is not None and sch.trace is not None:
                return sch
    return None


def commit_default_records(tasks: list[Any], target: Any, database: Any, builder: Any, runner: Any) -> int:
    """Build, measure and commit the default schedule of each extracted task to ``database``; the number
    committed (a task no rule schedules, or whose build or run fails, is left to the search)."""
    from tvm.s_tir import meta_schedule as ms

    pending = []
    for task in tasks:
        mod = task.dispatched[0]
        sch = default_schedule(mod, target)
        if sch is not None:
            pending.append((mod, sch))
    if not pending:
        return 0
    built = builder.build([ms.builder.BuilderInput(sch.mod, target) for _, sch in pending])
    device = "cuda" if target.kind.name == "cuda" else "cpu"
    measured = []
    for (mod, sch), result in zip(pending, built):
        if result.error_msg is not None:
            continue
        args_info = ms.arg_info.ArgInfo.from_prim_func(sch.mod["main"])
        future = runner.run([ms.runner.RunnerInput(result.artifact_path, device, args_info)])[0]
        measured.append((mod, sch, args_info, future))
    committed = 0
    for mod, sch, args_info, future in measured:
        outcome = future.result()
        if outcome.error_msg is not None or not outcome.run_secs:
            continue
        workload = database.commit_workload(mod)
        database.commit_tuning_record(ms.database.TuningRecord(
            sch.trace, workload, [float(s) for s in outcome.run_secs], target, args_info))
        committed += 1
    return committed
