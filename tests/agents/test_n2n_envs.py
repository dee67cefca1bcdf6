"""The N2N gymnasium environments: registered, pass gymnasium's checker, reward what the task
rewards, cache repeated students, drive with SB3 PPO (sequential variant)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import agents  # noqa: F401 - registers the environments
from agents.n2n.distill import DistillConfig
from agents.n2n.task import N2NTask, TaskConfig
from hwsim.errors import ConfigError, ShapeError

IDS = ("hwsim/N2NRemoval-v0", "hwsim/N2NShrink-v0", "hwsim/N2NSequential-v0")


@pytest.fixture(scope="module")
def task():
    torch.set_num_threads(1)
    return N2NTask(TaskConfig(teacher="resnet", dataset="digits", quick=True, distill=DistillConfig(epochs=1)))


@pytest.mark.parametrize("env_id", IDS)
def test_check_env_passes(env_id, task):
    from gymnasium.utils.env_checker import check_env

    env = gym.make(env_id, task=task)
    check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)


def test_removal_step_rewards_the_student_and_caches_it(task):
    env = gym.make("hwsim/N2NRemoval-v0", task=task)
    env.reset(seed=0)
    keep = np.array([1, 1, 0, 1, 0, 1, 0], dtype=np.int8)
    _, reward, terminated, truncated, info = env.step(keep)
    assert terminated and not truncated
    arch = task.removal_arch(keep.tolist())
    assert info["key"] == arch.key() and info["valid"]
    assert info["params_ratio"] == pytest.approx(info["params"] / task.teacher_result.params)
    assert info["params_ratio"] < 0.5
    assert reward == pytest.approx(task.reward(task.evaluate_many([arch])[0]))
    entries, misses = len(task.cache), task.cache.misses
    env.reset()
    _, again, *_ = env.step(keep)
    assert again == reward and len(task.cache) == entries and task.cache.misses == misses


def test_removing_every_layer_is_a_valid_tiny_student(task):
    env = gym.make("hwsim/N2NRemoval-v0", task=task)
    env.reset()
    _, reward, _, _, info = env.step(np.zeros(len(task.arch), dtype=np.int8))
    assert info["valid"] and info["params"] == 1 * 10 + 10  # global average pool of the input, then the classifier
    assert -1 < reward < 1


def test_shrink_env_acts_on_the_stage_one_student(task):
    keep = [1, 1, 0, 1, 1, 1, 0]
    env = gym.make("hwsim/N2NShrink-v0", task=task, base_keep=keep)
    assert env.action_space.shape == (5,)
    env.reset()
    action = np.array([0, 1, 2, 3, 0])
    _, reward, terminated, _, info = env.step(action)
    assert terminated
    assert info["key"] == task.shrink_arch(action.tolist(), task.removal_arch(keep)).key()
    with pytest.raises(ConfigError, match="keep at least one"):
        gym.make("hwsim/N2NShrink-v0", task=task, base_keep=[0] * len(task.arch))


def test_sequential_episode_matches_the_whole_action(task):
    env = gym.make("hwsim/N2NSequential-v0", task=task).unwrapped
    obs, info = env.reset(seed=0)
    actions = [4, 0, 3, 2, 0, 1, 4]  # 0 removes, k keeps at factors[k-1]
    total = 0.0
    for t, a in enumerate(actions):
        assert env.observation_space.contains(obs)
        obs, reward, terminated, _, info = env.step(a)
        total += reward
        assert terminated == (t == len(actions) - 1)
        if not terminated:
            assert reward == 0.0
    want = task.removal_arch([1, 0, 1, 1, 0, 1, 1]).shrink([1.0, 0.75, 0.5, 0.25, 1.0])
    assert info["key"] == want.key()
    assert total == pytest.approx(task.reward(task.evaluate_many([want])[0]))
    with pytest.raises(ConfigError, match="reset"):
        env.step(1)


def test_bad_actions_raise(task):
    env = gym.make("hwsim/N2NRemoval-v0", task=task)
    env.reset()
    with pytest.raises(ShapeError, match="keep flags"):
        env.step(np.ones(3, dtype=np.int8))
    seq = gym.make("hwsim/N2NSequential-v0", task=task).unwrapped
    seq.reset()
    with pytest.raises(ShapeError, match="Discrete"):
        seq.step(9)


def test_sb3_ppo_runs_on_the_sequential_variant(task):
    from stable_baselines3 import PPO

    env = gym.make("hwsim/N2NSequential-v0", task=task)
    model = PPO("MlpPolicy", env, n_steps=14, batch_size=7, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=14)
    assert model.num_timesteps >= 14
    assert len(task.cache) > 0
