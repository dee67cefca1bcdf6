"""The compression task that the N2N environments, the trainer and the baselines share: a teacher,
the actions that turn it into a student, the evaluation of a student (build fresh, distill, measure)
with its cache, and the reward."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from typing import Any, Sequence

import numpy as np

from agents.n2n.cache import StudentCache, StudentResult
from agents.n2n.distill import DistillConfig, distill
from agents.n2n.latency import LatencyModel, default_model, measure
from agents.n2n.layers import Arch, InvalidArchitecture, build, count_macs, count_params, layer_costs, layer_features
from agents.n2n.reward import RewardFn, check_reward
from agents.n2n.teachers import Teacher, load_teacher, teacher_spec
from agents.n2n.workers import RolloutPool
from edge.train import accuracy
from hwsim.errors import ConfigError

SHRINK_FACTORS = (0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class TaskConfig:
    """Teacher, data, distillation budget, reward and seeds of a compression task (picklable, so worker
    processes rebuild the same task). ``max_params_ratio`` is an optional size constraint on the final
    student (a student with more than that fraction of the teacher's parameters scores -1 where the
    constraint applies: the shrink stage, the sequential environment)."""

    teacher: str = "resnet"
    dataset: str = "digits"
    quick: bool = False
    teacher_seed: int = 0
    distill: DistillConfig = field(default_factory=DistillConfig)
    reward: str = "params"
    target: str = "host"
    student_seed: int = 0
    factors: tuple[float, ...] = SHRINK_FACTORS
    latency_model: LatencyModel | None = None
    latency_repeat: int = 50
    max_params_ratio: float | None = None

    def __post_init__(self) -> None:
        check_reward(self.reward)
        if self.max_params_ratio is not None and not 0 < self.max_params_ratio <= 1:
            raise ConfigError(f"max_params_ratio must be in (0, 1], got {self.max_params_ratio}")
        if not self.factors or any(not 0 < f <= 1 for f in self.factors):
            raise ConfigError(f"shrink factors must be in (0, 1], got {self.factors}")
        if self.distill.epochs < 1:
            raise ConfigError("the distillation budget must be at least one epoch")

    def context(self) -> dict[str, Any]:
        """What a student's result depends on besides its architecture (the cache namespace)."""
        spec = teacher_spec(self.teacher, self.dataset, self.quick, self.teacher_seed)
        ctx = {"teacher": spec.digest(), "distill": self.distill.to_json(), "student_seed": self.student_seed}
        if self.reward == "latency":
            ctx["latency_target"] = self.target
        return ctx


class N2NTask:
    """A teacher and everything needed to score students made from it.

    ``evaluate_many`` looks students up in ``cache`` and evaluates the others, in ``pool`` when given
    (worker processes or Ray), else here.
    """

    def __init__(self, config: TaskConfig | None = None, cache: StudentCache | None = None,
                 pool: RolloutPool | None = None, teacher: Teacher | None = None) -> None:
        self.config = config or TaskConfig()
        cfg = self.config
        self.teacher = teacher or load_teacher(teacher_spec(cfg.teacher, cfg.dataset, cfg.quick, cfg.teacher_seed))
        self.latency_model = cfg.latency_model or default_model(cfg.target)
        self.cache = cache if cache is not None else StudentCache(cfg.context())
        self.pool = pool
        self.factors = tuple(float(f) for f in cfg.factors)

    # -- the teacher and the reward -----------------------------------------------------------------
    @property
    def arch(self) -> Arch:
        """The teacher's architecture."""
        return self.teacher.arch

    @cached_property
    def teacher_result(self) -> StudentResult:
        """The teacher scored like a student (its latency measured only for the ``latency`` reward)."""
        arch = self.arch
        latency = (self._measure(self.teacher.model, arch)["median"] if self.config.reward == "latency" else None)
        return StudentResult(arch.key(), arch.to_json(), True, params=count_params(arch), macs=count_macs(arch),
                             val_acc=float(self.teacher.metrics["val_acc"]),
                             test_acc=float(self.teacher.metrics["test_acc"]),
                             latency_est_s=self.latency_model.estimate(arch), latency_s=latency)

    @cached_property
    def reward_fn(self) -> RewardFn:
        """The reward relative to the teacher."""
        t = self.teacher_result
        cost = {"params": t.params, "latency-est": t.latency_est_s, "latency": t.latency_s}[self.config.reward]
        return RewardFn(self.config.reward, float(cost), t.val_acc)

    def reward(self, result: StudentResult, constrained: bool = True) -> float:
        """The N2N reward of an evaluated student; -1 above the size constraint when ``constrained``."""
        limit = self.config.max_params_ratio
        if constrained and limit is not None and result.params > limit * self.teacher_result.params:
            return -1.0
        return self.reward_fn(result)

    # -- actions ------------------------------------------------------------------------------------
    def features(self, arch: Arch | None = None) -> np.ndarray:
        """Per-layer features of ``arch`` (default: the teacher), the policies' input."""
        return layer_features(arch if arch is not None else self.arch)

    def removal_arch(self, keep: Sequence[int | bool], base: Arch | None = None) -> Arch:
        """The student that keeps the layers of ``base`` (default: the teacher) whose flag is set."""
        return (base if base is not None else self.arch).remove(keep)

    def shrink_arch(self, factor_index: Sequence[int], base: Arch | None = None) -> Arch:
        """The student that shrinks each layer of ``base`` (default: the teacher) by ``factors[index]``."""
        base = base if base is not None else self.arch
        idx = [int(i) for i in factor_index]
        if any(not 0 <= i < len(self.factors) for i in idx):
            raise ConfigError(f"shrink action indices must be in 0..{len(self.factors) - 1}, got {idx}")
        return base.shrink([self.factors[i] for i in idx])

    # -- evaluation ---------------------------------------------------------------------------------
    def evaluate(self, arch: Arch) -> StudentResult:
        """Build ``arch`` fresh, distill it from the teacher for the configured budget and measure it
        (no cache). Invalid and larger-than-teacher students are not trained."""
        key, data = arch.key(), arch.to_json()
        try:
            layer_costs(arch)
        except InvalidArchitecture as exc:
            return StudentResult(key, data, False, reason=str(exc))
        params = count_params(arch)
        if params > count_params(self.arch):
            return StudentResult(key, data, False, reason=f"{params} parameters, more than the teacher's",
                                 params=params, macs=count_macs(arch), latency_est_s=self.latency_model.estimate(arch))
        return self.train_student(arch, self.config.distill.epochs, measure_latency=self.config.reward == "latency")[1]

    def evaluate_many(self, archs: Sequence[Arch]) -> list[StudentResult]:
        """Results of ``archs`` in order: cached ones for free, each distinct new one evaluated once."""
        todo: dict[str, Arch] = {}
        for arch in archs:
            key = arch.key()
            if key not in todo and self.cache.lookup(key) is None:
                todo[key] = arch
        if todo:
            pending = list(todo.values())
            new = self.pool.evaluate(pending) if self.pool is not None else [self.evaluate(a) for a in pending]
            self.cache.update(new)
        return [self._estimated(self.cache.get(arch.key()), arch) for arch in archs]

    def _estimated(self, result: StudentResult, arch: Arch) -> StudentResult:
        """``result`` with its latency estimated by this task's model (a cached result may have been
        estimated by another, e.g. uncalibrated, model)."""
        if not result.params:
            return result
        return replace(result, latency_est_s=self.latency_model.estimate(arch))

    def outcome(self, arch: Arch, constrained: bool = True) -> tuple[float, dict[str, Any]]:
        """Evaluate ``arch`` (through the cache) and return its reward and an info dict for an environment
        step: the student's result, its cost ratio and the cache size."""
        result = self.evaluate_many([arch])[0]
        reward = self.reward(result, constrained)
        info = {**result.to_json(), "params_ratio": result.params / self.teacher_result.params,
                "cost_ratio": self.reward_fn.cost_ratio(result) if result.valid else None,
                "students_cached": len(self.cache)}
        return reward, info

    def train_student(self, arch: Arch, epochs: int, measure_latency: bool = False) -> tuple[Any, StudentResult]:
        """A fresh ``arch`` distilled for ``epochs`` (the search budget, or a longer final one), and its result
        (latency measured on the target when ``measure_latency``)."""
        start, cpu = time.perf_counter(), time.process_time()
        seed = self.config.student_seed
        model = distill(build(arch, seed), self.teacher, replace(self.config.distill, epochs=epochs), seed=seed)
        split = self.teacher.data
        result = StudentResult(arch.key(), arch.to_json(), True, params=count_params(arch), macs=count_macs(arch),
                               val_acc=accuracy(model, split.x_val, split.y_val),
                               test_acc=accuracy(model, split.x_test, split.y_test),
                               latency_est_s=self.latency_model.estimate(arch))
        if measure_latency:
            result.latency_s = self._measure(model, arch)["median"]
        result.seconds = time.perf_counter() - start
        result.cpu_seconds = time.process_time() - cpu
        return model, result

    def _measure(self, model: Any, arch: Arch) -> dict:
        return measure(model, arch.in_shape, self.config.target, repeat=self.config.latency_repeat)

    def describe(self) -> dict[str, Any]:
        """The task as plain JSON: config, teacher metrics and the latency model."""
        cfg = asdict(self.config)
        cfg["latency_model"] = self.latency_model.to_json()
        return {"config": cfg, "teacher": {"name": self.teacher.spec.name, "arch": self.arch.key(),
                                           **self.teacher.metrics}}


def task_from_options(teacher: str = "resnet", dataset: str = "digits", quick: bool = False, distill_epochs: int = 4,
                      reward: str = "params", target: str = "host", seed: int = 0,
                      factors: Sequence[float] = SHRINK_FACTORS, max_params_ratio: float | None = None,
                      task: N2NTask | None = None) -> N2NTask:
    """The task an environment's keyword options describe (or ``task`` itself, to share one teacher and
    cache between environments)."""
    if task is not None:
        return task
    cfg = TaskConfig(teacher=teacher, dataset=dataset, quick=quick, distill=DistillConfig(epochs=int(distill_epochs)),
                     reward=reward, target=target, student_seed=seed, factors=tuple(factors),
                     max_params_ratio=max_params_ratio)
    return N2NTask(cfg)
