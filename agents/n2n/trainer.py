"""The two-stage N2N trainer: REINFORCE on the removal policy over the teacher, then on the shrink
policy over the best student of stage 1; the best student found is distilled for a longer final
budget, measured, and optionally exported through ``edge``.

A run writes ``runs/<name>/``: ``metrics.jsonl`` (one line per policy update), ``students.jsonl``
(every evaluated student, reloaded on ``resume``), ``checkpoint.pt`` (policies, optimisers, baselines,
sampler state; written after every update), ``results.json`` and ``reward_curve.png``.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

import edge
from agents.n2n.cache import StudentCache, StudentResult
from agents.n2n.latency import compare_latency
from agents.n2n.layers import FEATURES, Arch, arch_from_json
from agents.n2n.policies import RemovalPolicy, ShrinkPolicy
from agents.n2n.reinforce import Reinforce, ReinforceConfig
from agents.n2n.rollouts import make_pool
from agents.n2n.task import N2NTask, TaskConfig
from edge.compress.surgery import fold_batchnorm
from edge.errors import ToolchainError
from hwsim.errors import ConfigError
from hwsim.jobs import Backend, LocalBackend
from hwsim.progress import progress
from hwsim.runs import RunRecord

STAGES = ("removal", "shrink")


@dataclass(frozen=True)
class N2NConfig:
    """A whole N2N run: the task, the two stages' update counts, REINFORCE, the final budget, where the
    run is recorded, how students are evaluated (``workers`` local processes of ``threads`` threads each,
    unless the trainer is given another back end), and what is measured and exported at the end."""

    task: TaskConfig = field(default_factory=TaskConfig)
    removal_updates: int = 12
    shrink_updates: int = 12
    reinforce: ReinforceConfig = field(default_factory=ReinforceConfig)
    hidden: int = 32
    init_keep: float = 0.5
    final_epochs: int = 30
    seed: int = 0
    name: str = "n2n"
    root: str = "runs"
    resume: bool = False
    workers: int = 1
    threads: int = 1
    measure_latency: bool = False
    export_dir: str | None = None
    export_targets: tuple[str, ...] = ("host", "jetson-orin")

    def __post_init__(self) -> None:
        if self.removal_updates < 0 or self.shrink_updates < 0 or self.removal_updates + self.shrink_updates == 0:
            raise ConfigError("give at least one policy update (removal_updates + shrink_updates >= 1)")
        if self.reinforce.rollouts < 1:
            raise ConfigError("each update needs at least one rollout")
        if self.final_epochs < 1:
            raise ConfigError("the final distillation budget must be at least one epoch")
        if not 0 < self.init_keep < 1:
            raise ConfigError("init_keep must be a probability strictly between 0 and 1")


@dataclass
class Scored:
    """A student with its reward (as found by the search)."""

    arch: Arch
    result: StudentResult
    reward: float


@dataclass
class SearchState:
    """What a search has seen, per stage (``removal``, ``shrink``, or ``joint`` for one-stage baselines):
    the best student and the distinct students it asked for."""

    best: dict[str, Scored | None] = field(default_factory=dict)
    seen: dict[str, set[str]] = field(default_factory=dict)

    def record(self, stage: str, archs: Sequence[Arch], results: Sequence[StudentResult],
               rewards: Sequence[float]) -> None:
        """Note the rollouts of one update."""
        seen = self.seen.setdefault(stage, set())
        for arch, res, rew in zip(archs, results, rewards):
            seen.add(arch.key())
            best = self.best.get(stage)
            if best is None or rew > best.reward:
                self.best[stage] = Scored(arch, res, float(rew))

    def final(self) -> Scored | None:
        """The search's answer: the best student of its last stage (N2N's stage 2, as in the paper, whose
        reward alone obeys a size constraint), or of stage 1 when only that ran."""
        for stage in ("shrink", "joint", "removal"):
            if self.best.get(stage) is not None:
                return self.best[stage]
        return None

    def students(self) -> int:
        """Distinct students asked for (a student asked for in two stages counts once)."""
        return len(set().union(*self.seen.values()))

    def to_json(self) -> dict[str, Any]:
        """Checkpointable form."""
        return {"best": {s: None if b is None else {"arch": b.arch.to_json(), "result": b.result.to_json(),
                                                     "reward": b.reward} for s, b in self.best.items()},
                "seen": {s: sorted(v) for s, v in self.seen.items()}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SearchState:
        """Rebuild from :meth:`to_json` output."""
        state = cls()
        for s, b in data["best"].items():
            state.best[s] = None if b is None else Scored(arch_from_json(b["arch"]),
                                                          StudentResult.from_json(b["result"]), float(b["reward"]))
        state.seen = {s: set(v) for s, v in data["seen"].items()}
        return state


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (worker processes count once they exit)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def scored_json(task: N2NTask, s: Scored) -> dict[str, Any]:
    """A found student as JSON: architecture, search result, reward and ratios to the teacher."""
    t = task.teacher_result
    r = s.result
    return {"arch": s.arch.key(), "arch_json": s.arch.to_json(), "reward": s.reward, "search": r.to_json(),
            "params": r.params, "params_ratio": r.params / t.params, "compression": t.params / max(r.params, 1),
            "macs_ratio": r.macs / t.macs, "latency_est_ratio": r.latency_est_s / t.latency_est_s}


def final_report(task: N2NTask, found: Scored, epochs: int) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Distill a found student for the final budget of ``epochs``; returns the model and its report
    (:func:`scored_json` plus the final result and the test-accuracy drop from the teacher)."""
    model, final = task.train_student(found.arch, epochs)
    return model, {**scored_json(task, found), "final": final.to_json(),
                   "test_acc_drop": task.teacher_result.test_acc - final.test_acc}


class N2NTrainer:
    """Runs both stages of N2N on a task and writes the run folder. Stage 1 is rewarded without the
    size constraint (it finds the network to shrink); stage 2's reward applies it. Without ``task`` the
    trainer builds one whose new students are evaluated on ``backend`` (a :mod:`hwsim.jobs` back end;
    default: ``cfg.workers`` local processes, one meaning this process)."""

    def __init__(self, cfg: N2NConfig, task: N2NTask | None = None, backend: Backend | None = None) -> None:
        self.cfg = cfg
        self.record = RunRecord(cfg.name, cfg.root, resume=cfg.resume)
        self._own_pool = None
        if task is None:
            cache = StudentCache(cfg.task.context(), self.record.dir / "students.jsonl")
            self._own_pool = make_pool(cfg.task, backend or LocalBackend(cfg.workers, cfg.threads))
            task = N2NTask(cfg.task, cache=cache, pool=self._own_pool)
        self.task = task
        torch.manual_seed(cfg.seed)
        n_feat = len(FEATURES)
        self.removal = Reinforce(RemovalPolicy(n_feat, cfg.hidden, cfg.init_keep), cfg.reinforce)
        self.shrink = Reinforce(ShrinkPolicy(n_feat, len(task.factors), cfg.hidden), cfg.reinforce)
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.state = SearchState()
        self.done = {s: 0 for s in STAGES}
        self.elapsed = 0.0
        self.cpu = 0.0
        if cfg.resume:
            self._restore()

    # -- checkpoints --------------------------------------------------------------------------------
    def _checkpoint(self, started: float, cpu0: float) -> None:
        self.record.save_checkpoint({
            "removal": self.removal.state_dict(), "shrink": self.shrink.state_dict(), "done": dict(self.done),
            "generator": self.generator.get_state(), "search": self.state.to_json(),
            "elapsed": self.elapsed + time.perf_counter() - started, "cpu": self.cpu + cpu_seconds() - cpu0,
            "config": asdict(self.cfg)})

    def _restore(self) -> None:
        ckpt = self.record.load_checkpoint()
        if ckpt is None:
            return
        self.removal.load_state_dict(ckpt["removal"])
        self.shrink.load_state_dict(ckpt["shrink"])
        self.done = dict(ckpt["done"])
        self.generator.set_state(ckpt["generator"])
        self.state = SearchState.from_json(ckpt["search"])
        self.elapsed, self.cpu = float(ckpt["elapsed"]), float(ckpt["cpu"])
        self.record.truncate_after("update", self.done["removal"] + self.done["shrink"] - 1)

    # -- the search ---------------------------------------------------------------------------------
    def stage_base(self) -> Arch:
        """The network stage 2 shrinks: the best student of stage 1 (the teacher if stage 1 found none)."""
        best = self.state.best.get("removal")
        return best.arch if best is not None and best.reward > -1 else self.task.arch

    def _update(self, stage: str) -> dict[str, Any]:
        task, n = self.task, self.cfg.reinforce.rollouts
        if stage == "removal":
            feats = task.features()
            sample = self.removal.policy.sample(feats, n, self.generator)
            archs = [task.removal_arch(a.tolist()) for a in sample.actions]
            algo = self.removal
        else:
            base = self.stage_base()
            feats = task.features(base)
            sample = self.shrink.policy.sample(feats, base.shrinkable_mask(), n, self.generator)
            archs = [task.shrink_arch(a.tolist(), base) for a in sample.actions]
            algo = self.shrink
        before = len(self.state.seen.get(stage, ()))
        results = task.evaluate_many(archs)
        rewards = [task.reward(r, constrained=stage != "removal") for r in results]
        self.state.record(stage, archs, results, rewards)
        stats = algo.update(sample.log_prob, rewards, sample.entropy)
        best = self.state.final()
        return {"stage": stage, "reward_mean": sum(rewards) / len(rewards), "reward_max": max(rewards),
                "best_reward": best.reward if best else None, "baseline": stats["baseline"], "loss": stats["loss"],
                "entropy": float(sample.entropy.detach()), "new_students": len(self.state.seen[stage]) - before,
                "students": self.state.students(), "cache_hits": task.cache.hits}

    def search(self, on_update: Callable[[dict[str, Any]], None] | None = None) -> SearchState:
        """Run the remaining updates of both stages (checkpointing after each); returns the search state."""
        started, cpu0 = time.perf_counter(), cpu_seconds()
        plan = [("removal", self.cfg.removal_updates), ("shrink", self.cfg.shrink_updates)]
        total = sum(n for _, n in plan)
        bar = progress(total=total, desc=f"n2n {self.task.teacher.spec.name}")
        bar.update(self.done["removal"] + self.done["shrink"])
        for stage, updates in plan:
            while self.done[stage] < updates:
                row = self._update(stage)
                row["update"] = self.done["removal"] + self.done["shrink"]
                row["wall_s"] = self.elapsed + time.perf_counter() - started
                self.done[stage] += 1
                self.record.log(**row)
                self._checkpoint(started, cpu0)
                bar.update(1)
                bar.set_postfix(best=f"{row['best_reward']:.3f}", students=row["students"])
                if on_update is not None:
                    on_update(row)
        bar.close()
        self.elapsed += time.perf_counter() - started
        self.cpu += cpu_seconds() - cpu0
        return self.state

    def close(self) -> None:
        """Stop the worker pool this trainer started (if any); evaluation then continues in-process."""
        if self._own_pool is not None:
            self._own_pool.close()
            self._own_pool = None
            self.task.pool = None

    # -- the whole run ------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Search, then distill the best student for the final budget, measure, export and write
        ``results.json`` and ``reward_curve.png``; returns the results."""
        try:
            self.search()
        finally:
            self.close()
        task = self.task
        best = self.state.final()
        if best is None or best.reward <= -1:
            raise ConfigError("the search found no valid student (within the size constraint, if set); give it "
                              "more updates or rollouts, or loosen max_params_ratio")
        start = time.perf_counter()
        model, report = final_report(task, best, self.cfg.final_epochs)
        results = {"task": task.describe(), "config": asdict(self.cfg), "teacher": task.teacher_result.to_json(),
                   "best": report,
                   "stage1_best": (scored_json(task, self.state.best["removal"]) if self.state.best.get("removal")
                                   else None),
                   "students_evaluated": self.state.students(),
                   "students_per_stage": {s: len(v) for s, v in self.state.seen.items()},
                   "rollouts": self.cfg.reinforce.rollouts * (self.done["removal"] + self.done["shrink"]),
                   "cache": task.cache.stats(), "search_wall_s": self.elapsed, "search_cpu_s": self.cpu,
                   "final_train_s": time.perf_counter() - start}
        if self.cfg.measure_latency:
            results["best"]["latency"] = measured_latency_ratio(task, model, best.arch)
        if self.cfg.export_dir:
            results["best"]["exports"] = export_student(model, best.arch, self.cfg.export_targets, self.cfg.export_dir)
        curve = self.record.plot("update", ["reward_mean", "reward_max", "best_reward", "baseline"],
                                 filename="reward_curve.png", title=f"N2N {task.teacher.spec.name}: reward per update")
        results["reward_curve"] = str(curve) if curve else None
        self.record.write_json("results.json", results)
        torch.save({"arch": best.arch.to_json(), "state_dict": model.state_dict()}, self.record.dir / "best_student.pt")
        return results


def measured_latency_ratio(task: N2NTask, model: torch.nn.Module, arch: Arch) -> dict[str, Any]:
    """Compile the teacher and ``model`` for the task's target with ``edge`` and time them here in
    alternating rounds (:func:`agents.n2n.latency.compare_latency`)."""
    return compare_latency(model, task.teacher.model, arch.in_shape, task.config.target)


def export_student(model: torch.nn.Module, arch: Arch, targets: Sequence[str],
                   directory: str | os.PathLike) -> dict[str, Any]:
    """Compile ``model`` (batch norm folded, batch 1) with ``edge`` for each of ``targets`` and export an
    artifact to ``directory/<target>``. CUDA kernels are compiled ahead of time when nvcc supports the
    architecture; otherwise the artifact carries CUDA source (its manifest says so)."""
    example = torch.zeros(1, *arch.in_shape)
    deployable = fold_batchnorm(model.eval())
    out: dict[str, Any] = {}
    for target in targets:
        compiled = edge.compile_model(deployable, (example,), target=target)
        path = Path(directory) / target
        try:
            written = compiled.export(path)
            note = None
        except ToolchainError as exc:
            written = compiled.export(path, cuda_aot=False)
            note = f"kernels not compiled ahead of time: {exc}"
        out[target] = {"path": str(written), "verification": compiled.info.get("verification", {}).get("passed"),
                       "verified_on": compiled.info.get("verification", {}).get("ran_on"), "note": note}
    return out
