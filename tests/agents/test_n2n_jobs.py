"""N2N's student evaluations through the job runner (issue 14): the search and ``hwsim bench compress`` on
two local worker processes give the in-process results; ``--ray`` builds a Ray pool, started only when used."""

from __future__ import annotations

import argparse
import json
import sys

import torch

from agents.n2n.distill import DistillConfig
from agents.n2n.latency import LatencyModel
from agents.n2n.reinforce import ReinforceConfig
from agents.n2n.rollouts import JobsPool, make_pool, task_config_from_json, task_config_json
from agents.n2n.task import TaskConfig
from agents.n2n.trainer import N2NConfig, N2NTrainer
from hwsim.jobs import LocalBackend, RayBackend, add_backend_options, backend_from_args

QUICK = TaskConfig(teacher="resnet", dataset="digits", quick=True, distill=DistillConfig(epochs=1))
TIMES = ("seconds", "cpu_seconds")


def _without_times(value):
    """``value`` with every wall and CPU time left out (the only fields that may differ between runs)."""
    if isinstance(value, dict):
        return {k: _without_times(v) for k, v in value.items()
                if k not in TIMES and not k.endswith("_wall_s") and not k.endswith("_cpu_s")
                and k not in ("search_wall_s", "search_cpu_s", "duration_s", "students_on", "wall_s")}
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    return value


def test_a_task_config_travels_as_json():
    cfg = TaskConfig(quick=True, reward="latency-est", factors=(0.5, 1.0), max_params_ratio=0.2,
                     latency_model=LatencyModel(1e-5, 2e9, "calibrated"))
    data = task_config_json(cfg)
    assert json.loads(json.dumps(data)) == data
    assert task_config_from_json(data) == cfg
    assert task_config_from_json(task_config_json(QUICK)) == QUICK


def _search(tmp_path, name, workers):
    torch.set_num_threads(1)
    cfg = N2NConfig(task=QUICK, removal_updates=1, shrink_updates=1, reinforce=ReinforceConfig(rollouts=3),
                    final_epochs=1, name=name, root=str(tmp_path), workers=workers)
    trainer = N2NTrainer(cfg)
    try:
        state = trainer.search()
        placement = dict(trainer.task.pool.placement) if trainer.task.pool is not None else None
    finally:
        trainer.close()
    return state, placement


def test_search_on_two_worker_processes_equals_in_process(tmp_path):
    here, none = _search(tmp_path, "here", 1)
    there, placement = _search(tmp_path, "there", 2)
    assert none is None  # one worker: no pool, students evaluated in this process as before
    assert sum(placement.values()) == there.students() >= 2
    assert _without_times(there.to_json()) == _without_times(here.to_json())
    assert there.final().arch.key() == here.final().arch.key() and there.final().reward == here.final().reward


def _parse(*argv):
    p = argparse.ArgumentParser()
    add_backend_options(p, jobs_flags=("--workers", "--jobs"))
    return p.parse_args(list(argv))


def test_backend_options_pick_the_pool():
    assert make_pool(QUICK, backend_from_args(_parse())) is None
    assert make_pool(QUICK, backend_from_args(_parse("--workers", "1"))) is None
    local = make_pool(QUICK, backend_from_args(_parse("--workers", "2")))
    assert isinstance(local, JobsPool) and isinstance(local.backend, LocalBackend) and local.backend.workers == 2
    assert backend_from_args(_parse("--jobs", "3")).workers == 3
    ray = make_pool(QUICK, backend_from_args(_parse("--ray", "--workers", "2")))
    assert isinstance(ray.backend, RayBackend) and ray.backend.workers == 2
    ray.close()  # never used: nothing was started
    assert "ray" not in sys.modules or not sys.modules["ray"].is_initialized()


def test_bench_compress_on_two_workers_equals_in_process(tmp_path):
    from agents.n2n.bench import main

    argv = ["--quick", "--removal-updates", "1", "--shrink-updates", "1", "--rollouts", "2", "--final-epochs", "1",
            "--latency", "none"]
    assert main([*argv, "--json", str(tmp_path / "here.json"), "--runs-dir", str(tmp_path / "a")]) == 0
    assert main([*argv, "--workers", "2", "--json", str(tmp_path / "two.json"), "--runs-dir", str(tmp_path / "b")]) == 0
    here, two = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("here", "two"))
    assert two["students_on"] and sum(two["students_on"].values()) >= 2 and here["students_on"] == "this process"
    assert _without_times(two["per_seed"]) == _without_times(here["per_seed"])
    assert _without_times(two["rows"]) == _without_times(here["rows"])
