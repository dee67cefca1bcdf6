"""Cluster job scheduling: TPC-H data, the event simulator, the environment and the baselines."""

from __future__ import annotations

import random

import numpy as np
import pytest

from agents.baselines.cluster import BASELINES, FIFO, Fair
from agents.cluster_sim import ClusterSimulator
from agents.envs.cluster import ClusterSchedulingEnv
from agents.policy import run_episode
from agents.tpch import (JobTemplate, StageTemplate, _clean_first_wave, executor_level, load_templates,
                         parse_query, sample_job_sequence)
from hwsim.errors import DataError


def test_tpch_stage_counts_match_the_data_readme():
    templates = load_templates()
    assert len(templates) == 22 * 7
    counts = [4, 18, 6, 6, 14, 2, 13, 18, 14, 9, 11, 6, 7, 4, 7, 9, 6, 8, 4, 12, 16, 8]
    for size in ("2g", "100g"):
        assert [len(templates[(q, size)].stages) for q in range(1, 23)] == counts
    assert templates[(5, "100g")].total_work_ms > templates[(5, "2g")].total_work_ms


def test_fresh_durations_leave_the_first_wave():
    clean = _clean_first_wave({5: (1.0, 2.0, 2.0, 9.0), 10: (3.0,), 20: (4.0,)}, {5: (2.0, 9.0), 10: (3.0,)})
    assert clean == {5: (1.0, 2.0), 10: (1.0, 2.0), 20: (4.0,)}


def test_cyclic_or_inconsistent_query_raises_data_error():
    stage = {"first_wave": {"2": [1.0]}, "rest_wave": {"2": []}, "fresh_durations": {"2": [1.0]}}
    cyclic = {"num_stages": 2, "adj_mat": [[0, 1], [1, 0]], "task_duration": {"0": stage, "1": stage}}
    with pytest.raises(DataError, match="cycle"):
        parse_query(1, "2g", cyclic)
    with pytest.raises(DataError):
        parse_query(1, "2g", {"num_stages": 3, "adj_mat": [[0]], "task_duration": {"0": stage}})


def test_executor_level_interpolates_between_measured_levels():
    levels = (5, 10, 20)
    assert executor_level(levels, 1, 0.5) == 5 and executor_level(levels, 50, 0.5) == 20
    assert executor_level(levels, 10, 0.99) == 10
    draws = [executor_level(levels, 12, u) for u in np.linspace(0, 1, 1000, endpoint=False)]
    assert draws.count(10) == pytest.approx(800, abs=2)  # 12 is 2/10 of the way from 10 to 20


def chain_job() -> JobTemplate:
    """Stage 0 (two tasks) -> stage 1 (one task), with one measured duration per kind."""
    s0 = StageTemplate(2, {1: (1000.0,)}, {1: (500.0,)}, {1: (1500.0,)}, (1,), 1000.0)
    s1 = StageTemplate(1, {1: (700.0,)}, {1: ()}, {1: (1200.0,)}, (1,), 700.0)
    return JobTemplate(1, "2g", (s0, s1), ((), (0,)), ((1,), ()))


def test_simulator_timing_by_hand():
    sim = ClusterSimulator(num_executors=2, moving_delay_ms=2000.0, warmup_delay_ms=1000.0)
    sim.reset([(chain_job(), 0.0)], random.Random(0))
    assert sim.needs_decision and [s.index for s in sim.runnable()] == [0]
    assert sim.assign(sim.runnable()[0], limit=5) == 2  # both free executors, capped by the 2 tasks
    cost = sim.advance()  # move 2 s, fresh task 1.5 s; then stage 1 becomes runnable at 3.5 s
    assert sim.now == pytest.approx(3500.0) and cost == pytest.approx(3500.0)
    assert sim.assign(sim.runnable()[0], limit=1) == 1  # a local executor: no move, first-wave task
    cost = sim.advance()
    assert sim.done and sim.now == pytest.approx(4200.0) and cost == pytest.approx(700.0)
    assert sim.completion_times_s() == [pytest.approx(4.2)] and sim.mean_jct_s == pytest.approx(4.2)
    assert all(s.finished == s.num_tasks for s in sim.jobs[0].stages)


def test_every_task_runs_once_and_return_is_total_jct():
    env = ClusterSchedulingEnv(num_executors=10, num_jobs=8, graph_info=True)
    episode = run_episode(env, Fair(), seed=3)
    sim = env.sim
    assert sim.done and episode.last_info["jobs_done"] == 8
    for job in sim.jobs:
        assert all(s.finished == s.launched == s.num_tasks and s.moving == 0 for s in job.stages)
    assert -episode.total / env.reward_scale == pytest.approx(sum(sim.completion_times_s()), rel=1e-9)
    assert episode.last_info["mean_jct_s"] == pytest.approx(np.mean(sim.completion_times_s()))


def test_same_seed_same_job_sequence_for_every_policy():
    a = sample_job_sequence(np.random.default_rng(5), 10)
    b = sample_job_sequence(np.random.default_rng(5), 10)
    assert [(t.name, s) for t, s in a] == [(t.name, s) for t, s in b] and a[0][1] == 0.0
    env = ClusterSchedulingEnv(num_executors=10, num_jobs=6, graph_info=False)
    arrivals = []
    for policy in (FIFO(), Fair()):
        run_episode(env, policy, seed=9)
        arrivals.append([(j.tmpl.name, j.arrival_ms) for j in env.sim.jobs])
    assert arrivals[0] == arrivals[1]


def test_masks_and_invalid_actions():
    env = ClusterSchedulingEnv(num_executors=10, num_jobs=4, max_slots=8, graph_info=True)
    obs, info = env.reset(seed=0)
    mask = env.action_masks()
    assert mask.shape == (8 + 10,) and np.array_equal(mask, info["action_mask"])
    filled = int(mask[:8].sum())
    assert filled >= 1 and not mask[filled:8].any()
    assert mask[8:].sum() == info["num_idle"] == 10
    graph = info["dag"]
    assert graph.slot_node[0] >= 0 and graph.nodes[graph.slot_node[0], 3] == 1.0  # the slot's stage is runnable
    _, _, _, _, info = env.step(np.array([7, 0]))  # an empty slot: replaced by slot 0
    assert info["action_valid"] is False


def test_fair_beats_fifo_on_a_loaded_cluster():
    env = ClusterSchedulingEnv(num_executors=20, num_jobs=15, mean_interarrival_s=10.0, graph_info=False)
    jct = {name: run_episode(env, cls(), seed=0).last_info["mean_jct_s"] for name, cls in BASELINES.items()}
    assert jct["fair"] < jct["fifo"]
