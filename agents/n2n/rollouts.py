"""Parallel evaluation of students: a pool of worker processes (``process``), or Ray actors (``ray``,
when Ray is installed), each holding its own copy of the task (teacher loaded from the zoo cache).
``serial`` (or one worker) evaluates in the calling process.

Each worker runs PyTorch with ``threads`` intra-op threads (default 1), so ``workers x threads``
should not exceed the cores you have.
"""

from __future__ import annotations

import importlib.util
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Sequence

from agents.n2n.cache import StudentResult
from agents.n2n.layers import Arch, arch_from_json
from agents.n2n.task import N2NTask, TaskConfig
from agents.n2n.workers import RolloutPool  # noqa: F401  (the pools' interface, importable from here too)
from hwsim.errors import ConfigError

BACKENDS = ("auto", "serial", "process", "ray")

_WORKER_TASK: N2NTask | None = None


def _init_worker(config: TaskConfig, threads: int) -> None:
    global _WORKER_TASK
    import torch

    torch.set_num_threads(max(1, int(threads)))
    _WORKER_TASK = N2NTask(config)


def _evaluate(arch_json: dict) -> dict:
    assert _WORKER_TASK is not None, "worker used before its initialiser ran"
    return _WORKER_TASK.evaluate(arch_from_json(arch_json)).to_json()


class ProcessPool:
    """Students evaluated by ``workers`` spawned processes."""

    def __init__(self, config: TaskConfig, workers: int = 2, threads: int = 1) -> None:
        self.workers = int(workers)
        self._executor = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_init_worker, initargs=(config, threads))

    def evaluate(self, archs: Sequence[Arch]) -> list[StudentResult]:
        """Results of ``archs``, in order (one student per task, spread over the workers)."""
        return [StudentResult.from_json(r) for r in self._executor.map(_evaluate, [a.to_json() for a in archs])]

    def close(self) -> None:
        """Shut the processes down."""
        self._executor.shutdown(wait=True, cancel_futures=True)


class _RayEvaluator:
    """The body of a Ray actor: one task copy, evaluating students on request."""

    def __init__(self, config: TaskConfig, threads: int) -> None:
        _init_worker(config, threads)

    def evaluate(self, arch_json: dict) -> dict:
        return _evaluate(arch_json)


class RayPool:
    """Students evaluated by ``workers`` Ray actors (Ray is started locally when not running)."""

    def __init__(self, config: TaskConfig, workers: int = 2, threads: int = 1) -> None:
        import ray

        if not ray.is_initialized():
            ray.init(num_cpus=int(workers) * max(1, int(threads)), include_dashboard=False, log_to_driver=False)
        self._ray = ray
        self.workers = int(workers)
        actor = ray.remote(num_cpus=max(1, int(threads)))(_RayEvaluator)
        self._actors = [actor.remote(config, threads) for _ in range(self.workers)]

    def evaluate(self, archs: Sequence[Arch]) -> list[StudentResult]:
        """Results of ``archs``, in order (round-robin over the actors)."""
        futures = [self._actors[i % self.workers].evaluate.remote(a.to_json()) for i, a in enumerate(archs)]
        return [StudentResult.from_json(r) for r in self._ray.get(futures)]

    def close(self) -> None:
        """Stop the actors."""
        for a in self._actors:
            self._ray.kill(a)
        self._actors = []


def ray_available() -> bool:
    """True when Ray can be imported."""
    return importlib.util.find_spec("ray") is not None


def make_pool(backend: str, config: TaskConfig, workers: int, threads: int = 1) -> Any:
    """A pool for ``backend`` (``auto``: Ray when installed, else processes), or ``None`` for ``serial`` or
    a single worker (evaluate in this process)."""
    if backend not in BACKENDS:
        raise ConfigError(f"unknown rollout backend '{backend}'; choose one of {', '.join(BACKENDS)}")
    if backend == "serial" or workers <= 1:
        return None
    if backend == "ray" and not ray_available():
        raise ConfigError("the ray backend needs Ray: pip install 'ray[default]', or use --backend process")
    if backend == "ray" or (backend == "auto" and ray_available()):
        return RayPool(config, workers, threads)
    return ProcessPool(config, workers, threads)
