"""A MetaSchedule builder whose worker processes live across tuning rounds.

TVM 0.27's ``LocalBuilder`` starts a fresh pool of worker processes for every batch of candidates
(against a slow memory leak in long-lived workers), and each worker first imports TVM: several
seconds per round, which dominates the tuning of the many small tasks of a network. This builder
keeps one pool for the whole tuning and retires each worker after ``max_uses`` builds instead, which
bounds the leak the same way. Candidates are compiled by MetaSchedule's own default build and export
functions, exactly as ``LocalBuilder`` compiles them.
"""

from __future__ import annotations

from typing import Any, Callable


def pooled_builder(max_workers: int, timeout_sec: float, initializer: Callable[[], None] | None = None,
                   max_uses: int = 64) -> Any:
    """A MetaSchedule builder (``PyBuilder``) with a persistent pool of ``max_workers`` build processes."""
    from tvm.ir.utils import derived_object
    from tvm.s_tir.meta_schedule.builder import BuilderResult, PyBuilder
    from tvm.s_tir.meta_schedule.builder.local_builder import _serialize_params, _worker_func
    from tvm.support.popen_pool import PopenPoolExecutor, StatusKind

    @derived_object
    class PooledBuilder(PyBuilder):
        def __init__(self) -> None:
            super().__init__()
            self.pool = PopenPoolExecutor(max_workers=max_workers, timeout=timeout_sec, initializer=initializer,
                                          maximum_process_uses=max_uses)

        def build(self, build_inputs: list[Any]) -> list[Any]:
            jobs = [(None, None, b.mod, b.target, _serialize_params(b.params)) for b in build_inputs]
            results = []
            for done in self.pool.map_with_error_catching(lambda job: _worker_func(*job), jobs):
                if done.status == StatusKind.COMPLETE:
                    results.append(BuilderResult(done.value, None))
                elif done.status == StatusKind.TIMEOUT:
                    results.append(BuilderResult(None, f"PooledBuilder: timeout, killed after {timeout_sec} s"))
                else:
                    results.append(BuilderResult(None, f"PooledBuilder: an exception occurred\n{done.value}"))
            return results

        def shutdown(self) -> None:
            self.pool.shutdown()

    return PooledBuilder()
