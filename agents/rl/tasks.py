"""What :mod:`agents.rl.ppo` needs to know per environment family: the network, the action masks,
the test protocol a trained policy is scored on, and the baselines scored on the same protocol.

The family of an environment id is the module of its registered entry point (``agents.abr.env``:
ABR, ``agents.envs.cluster``: cluster scheduling, ``agents.envs.viewport``: viewport prediction), so
every id of a family (and any id registered later with the same class) is handled alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable

import gymnasium as gym
import numpy as np

import agents  # noqa: F401  (registers the environments)
from agents.abr.baselines import BBA, RobustMPC
from agents.abr.env import ABREnv
from agents.abr.evaluate import evaluate_abr
from agents.baselines.cluster import BASELINES as CLUSTER_BASELINES
from agents.baselines.viewport import BASELINES as VIEWPORT_BASELINES
from agents.envs.cluster import GLOBAL_FEATURES, SLOT_FEATURES, ClusterSchedulingEnv
from agents.envs.viewport import ViewportEnv
from agents.policy import run_episode
from agents.rl.evaluate import BatchPolicy, play_lockstep
from agents.viewport_data import load_windows, mean_absolute_error
from hwsim.errors import ConfigError

ABR_TEST_SETS = {"fcc_qoe": "fcc-test", "hsdpa_qoe": "hsdpa-test"}
CLUSTER_EVAL_SEEDS = (10_000, 10_001, 10_002)  # job sequences no training episode starts from


@dataclass
class RLTask:
    """One environment family: how to build its network and masks, and how to score a policy."""

    family: str
    metric: str  # the headline metric of the learning curve
    higher_is_better: bool
    network: str  # agents.rl.networks kind: mlp or slots
    evaluate: Callable[[BatchPolicy, dict[str, Any]], dict[str, float]]
    references: Callable[[dict[str, Any]], dict[str, dict[str, float]]]  # metric -> baseline -> value
    layout: Callable[[dict[str, Any]], dict[str, int] | None] = field(default=lambda kwargs: None)
    masked: bool = False


def env_kwargs(env_id: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The registered keyword arguments of ``env_id`` with ``overrides`` applied."""
    return {**gym.spec(env_id).kwargs, **(overrides or {})}


# ----------------------------------------------------------------- ABR
def _abr_evaluate(act: BatchPolicy, kwargs: dict[str, Any]) -> dict[str, float]:
    out = {}
    history = int(kwargs.get("history_len", 8))
    for metric, trace_set in ABR_TEST_SETS.items():
        probe = ABREnv(trace_set, train=False, history_len=history)
        envs = [ABREnv(trace_set, train=False, history_len=history) for _ in range(len(probe.traces))]
        episodes = play_lockstep(envs, act, options=[{"trace_index": i} for i in range(len(envs))])
        out[metric] = float(np.mean([r for ep in episodes for r in ep.rewards]))
    return out


def _abr_references(kwargs: dict[str, Any]) -> dict[str, dict[str, float]]:
    return {metric: dict(scores) for metric, scores in _abr_reference_scores(int(kwargs.get("history_len", 8))).items()}


@lru_cache(maxsize=4)
def _abr_reference_scores(history_len: int) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for metric, trace_set in ABR_TEST_SETS.items():
        env = ABREnv(trace_set, train=False, history_len=history_len)
        out[metric] = {p.name: evaluate_abr(p, env).qoe for p in (BBA(), RobustMPC())}
    return out


# ----------------------------------------------------------------- cluster scheduling
def _cluster_env(kwargs: dict[str, Any]) -> ClusterSchedulingEnv:
    return ClusterSchedulingEnv(**{**kwargs, "graph_info": False})


def _cluster_evaluate(act: BatchPolicy, kwargs: dict[str, Any]) -> dict[str, float]:
    envs = [_cluster_env(kwargs) for _ in CLUSTER_EVAL_SEEDS]
    episodes = play_lockstep(envs, act, seeds=CLUSTER_EVAL_SEEDS)
    jct = [ep.last_info["mean_jct_s"] for ep in episodes]
    done = [ep.last_info["jobs_done"] for ep in episodes]
    return {"mean_jct_s": float(np.mean(jct)), "jobs_done": float(np.mean(done))}


def _cluster_references(kwargs: dict[str, Any]) -> dict[str, dict[str, float]]:
    env = _cluster_env(kwargs)
    scores = {name: float(np.mean([run_episode(env, cls(), seed=s).last_info["mean_jct_s"]
                                   for s in CLUSTER_EVAL_SEEDS]))
              for name, cls in CLUSTER_BASELINES.items()}
    return {"mean_jct_s": scores}


def _cluster_layout(kwargs: dict[str, Any]) -> dict[str, int]:
    return {"slots": int(kwargs.get("max_slots", 64)), "features": len(SLOT_FEATURES),
            "globals": len(GLOBAL_FEATURES), "limits": int(kwargs.get("num_executors", 50))}


# ----------------------------------------------------------------- viewport prediction
def _viewport_evaluate(act: BatchPolicy, kwargs: dict[str, Any]) -> dict[str, float]:
    probe = ViewportEnv(**{**kwargs, "split": "test", "shuffle": False})
    envs = [ViewportEnv(**{**kwargs, "split": "test", "shuffle": False}) for _ in probe.trajectories]
    episodes = play_lockstep(envs, act, options=[{"trajectory_index": i} for i in range(len(envs))])
    return {"mae_deg": float(-np.mean([r for ep in episodes for r in ep.rewards]))}


def _viewport_references(kwargs: dict[str, Any]) -> dict[str, dict[str, float]]:
    windows = load_windows("test")
    return {"mae_deg": {name: mean_absolute_error(cls().predict(windows.history), windows.future)
                        for name, cls in VIEWPORT_BASELINES.items()}}


TASKS: dict[str, RLTask] = {
    "agents.abr.env": RLTask("abr", "fcc_qoe", True, "mlp", _abr_evaluate, _abr_references),
    "agents.envs.cluster": RLTask("cluster", "mean_jct_s", False, "slots", _cluster_evaluate, _cluster_references,
                                  _cluster_layout, masked=True),
    "agents.envs.viewport": RLTask("viewport", "mae_deg", False, "mlp", _viewport_evaluate, _viewport_references),
}


def get_task(env_id: str) -> RLTask:
    """The task family of a registered environment id."""
    try:
        entry = gym.spec(env_id).entry_point
    except gym.error.Error as exc:
        raise ConfigError(f"unknown environment id '{env_id}'; hwsim's ids are listed in agents.registration") from exc
    module = entry.partition(":")[0] if isinstance(entry, str) else getattr(entry, "__module__", "")
    if module not in TASKS:
        raise ConfigError(f"hwsim rl trains the networking environments (ABR, cluster scheduling, viewport); "
                          f"'{env_id}' ({module}) has no test protocol here")
    return TASKS[module]
