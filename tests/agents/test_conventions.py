"""Gymnasium conventions on every registered id: gymnasium's and SB3's checkers pass without a
warning, every id renders a frame, every spec has an episode limit, and ``make_vec`` builds each
id's native vector environment."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import agents  # noqa: F401
from agents.n2n.distill import DistillConfig
from agents.n2n.task import N2NTask, TaskConfig
from agents.registration import ENVIRONMENTS

SMALL = {"hwsim/ClusterScheduling-v0": {"num_jobs": 4}}  # the full episode is long; semantics are the same
IDS = sorted(ENVIRONMENTS)


@pytest.fixture(scope="module")
def n2n_task():
    torch.set_num_threads(1)
    return N2NTask(TaskConfig(teacher="resnet", dataset="digits", quick=True, distill=DistillConfig(epochs=1)))


def kwargs_for(env_id: str, n2n_task) -> dict:
    return {"task": n2n_task} if "N2N" in env_id else dict(SMALL.get(env_id, {}))


@pytest.mark.parametrize("env_id", IDS)
def test_checkers_pass_without_warnings(env_id, n2n_task):
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    modes = gym.spec(env_id).entry_point and gym.make(env_id, **kwargs_for(env_id, n2n_task)).metadata["render_modes"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for mode in modes:
            check_env(gym.make(env_id, render_mode=mode, **kwargs_for(env_id, n2n_task)).unwrapped)
        sb3_check_env(gym.make(env_id, **kwargs_for(env_id, n2n_task)).unwrapped, warn=True)


@pytest.mark.parametrize("env_id", IDS)
def test_every_id_renders_a_frame(env_id, n2n_task):
    modes = ENVIRONMENTS and gym.make(env_id, **kwargs_for(env_id, n2n_task)).metadata["render_modes"]
    assert "ansi" in modes
    for mode in modes:
        env = gym.make(env_id, render_mode=mode, **kwargs_for(env_id, n2n_task))
        env.reset(seed=0)
        env.step(env.action_space.sample())
        frame = env.render()
        if mode == "ansi":
            assert isinstance(frame, str) and len(frame.splitlines()) >= 2
        else:
            assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3 and frame.std() > 0


def test_abr_has_an_rgb_plot():
    assert "rgb_array" in gym.make("hwsim/ABR-v0").metadata["render_modes"]


@pytest.mark.parametrize("env_id", IDS)
def test_every_spec_has_an_episode_limit_and_a_vector_entry_point(env_id):
    spec = gym.spec(env_id)
    assert spec.max_episode_steps is not None and spec.max_episode_steps >= 1
    assert spec.vector_entry_point is not None


@pytest.mark.parametrize("env_id", [i for i in IDS if "N2N" not in i])
def test_make_vec_defaults_to_the_native_vector_env(env_id):
    vec = gym.make_vec(env_id, num_envs=2, **SMALL.get(env_id, {}))
    assert type(vec).__module__.startswith("agents.")
    obs, info = vec.reset(seed=0)
    assert obs.shape == (2, *vec.single_observation_space.shape) and vec.single_observation_space.contains(obs[0])
    for _ in range(3):
        obs, reward, terminated, truncated, info = vec.step(vec.action_space.sample())
    assert reward.shape == (2,) and np.all(np.isfinite(reward))


def test_n2n_make_vec_is_native(n2n_task):
    vec = gym.make_vec("hwsim/N2NRemoval-v0", num_envs=2, task=n2n_task)
    assert type(vec).__name__ == "N2NRemovalVectorEnv"
    vec.reset(seed=0)
    _, reward, terminated, _, _ = vec.step(np.ones((2, vec.single_action_space.n), dtype=np.int8))
    assert terminated.all() and reward[0] == reward[1]
