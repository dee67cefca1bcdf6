"""Acceptance 1: every registered environment passes gymnasium's checker, is reproducible under a
seed, and works through gymnasium.make_vec."""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env, data_equivalence

import agents  # noqa: F401
from agents.registration import ENVIRONMENTS

SMALL = {"hwsim/ClusterScheduling-v0": {"num_jobs": 4}}  # the full episode is long; semantics are the same
NETWORKING_MODULES = ("agents.abr.env", "agents.envs.viewport", "agents.envs.cluster")
# the networking environments; the N2N environments in the same table are checked by their own tests
NETWORKING = sorted(i for i, spec in ENVIRONMENTS.items()
                    if spec["entry_point"].partition(":")[0] in NETWORKING_MODULES)


@pytest.mark.parametrize("env_id", NETWORKING)
def test_check_env(env_id):
    env = gym.make(env_id, **SMALL.get(env_id, {}))
    check_env(env.unwrapped, skip_render_check=True)


def rollout(env_id: str, seed: int, steps: int = 40) -> list:
    env = gym.make(env_id, **SMALL.get(env_id, {}))
    env.action_space.seed(123)
    out = [env.reset(seed=seed)]
    for _ in range(steps):
        result = env.step(env.action_space.sample())
        out.append(result)
        if result[2] or result[3]:
            out.append(env.reset())
    return out


@pytest.mark.parametrize("env_id", NETWORKING)
def test_seeding_reproduces_episodes(env_id):
    assert data_equivalence(rollout(env_id, 5), rollout(env_id, 5))


@pytest.mark.parametrize("env_id", NETWORKING)
def test_make_vec(env_id):
    vec = gym.make_vec(env_id, num_envs=2, vectorization_mode="sync", **SMALL.get(env_id, {}))
    obs, info = vec.reset(seed=0)
    assert obs.shape == (2, *vec.single_observation_space.shape)
    for _ in range(5):
        obs, reward, terminated, truncated, info = vec.step(vec.action_space.sample())
    assert reward.shape == (2,) and np.all(np.isfinite(reward))
    vec.close()


def test_every_networking_task_is_registered():
    assert len(NETWORKING) == 7


def test_import_registers_without_loading_environments():
    code = ("import sys, agents, gymnasium; "
            "assert 'hwsim/ABR-v0' in gymnasium.registry; "
            "loaded = [m for m in ('agents.abr.env', 'agents.cluster_sim', 'torch', 'scipy') if m in sys.modules]; "
            "assert not loaded, loaded")
    subprocess.run([sys.executable, "-c", code], check=True)
