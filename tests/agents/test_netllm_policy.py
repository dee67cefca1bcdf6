"""The adapted model is a policy like any other: it plays the environments through the plain
gymnasium API, one episode at a time or many in lockstep, with the same results; the lockstep
evaluator reproduces the environments' own protocols for the baselines."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import agents  # noqa: F401
from agents.abr.evaluate import evaluate_abr
from agents.abr.baselines import BBA, RateBased
from agents.baselines.viewport import LinearRegression
from agents.abr.env import ABREnv
from agents.netllm.adapt import build, evaluate, make_policy
from agents.netllm.backbone import BackboneSpec
from agents.netllm.lora import LoRAConfig
from agents.netllm.offline_rl import ReturnStats
from agents.netllm.policy import DecisionPolicy
from agents.netllm.tasks import get_task
from agents.netllm.training import NetLLMTrainConfig
from agents.policy import Policy, run_episode
from agents.viewport_data import load_windows, mean_absolute_error
from hwsim.errors import ConfigError

ABR_SPACES = {"observation_shape": [6, 8], "action": {"type": "discrete", "n": 6}}
STATS = ReturnStats(reward_min=-10.0, reward_max=4.3, return_scale=10.0, gamma=1.0, max_return=4.0, max_timestep=47)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def abr_policy_model():
    model = build(get_task("abr"), BackboneSpec("tiny"), LoRAConfig(rank=4), NetLLMTrainConfig(context=5),
                  ABR_SPACES, 47,
                  "cpu")
    with torch.no_grad():  # a model that does not answer the same bitrate everywhere
        model.head.linear.weight.normal_(0, 2.0)
    return model


def test_adapted_policy_plays_through_the_gymnasium_api(abr_policy_model):
    task = get_task("abr")
    policy = make_policy(task, abr_policy_model, STATS, NetLLMTrainConfig(context=5))
    assert isinstance(policy, Policy)
    env = gym.make("hwsim/ABR-FCC-Test-v0")
    one_by_one = [run_episode(env, policy, options={"trace_index": i}) for i in range(4)]
    batched = evaluate(task, policy, episodes=4, batch=3)  # lockstep, 3 then 1 episodes
    assert batched["per_trace_qoe"] == pytest.approx([np.mean(ep.rewards) for ep in one_by_one], abs=1e-9)
    assert batched["chunks"] == sum(len(ep.rewards) for ep in one_by_one) == 4 * 47


def test_target_return_drops_by_each_normalised_reward(abr_policy_model):
    policy = DecisionPolicy(abr_policy_model, STATS, "qoe", target_return_scale=1.5)
    obs = np.zeros((6, 8), dtype=np.float32)
    policy.act(obs, {"qoe": 2.0})  # the reset's reward does not count
    assert policy._target[0] == pytest.approx(6.0)
    policy.act(obs, {"qoe": 2.0})
    assert policy._target[0] == pytest.approx(6.0 - (2.0 + 10.0) / 14.3 / 10.0)
    policy.act(obs, {"qoe": -50.0})  # clipped to the pool's range
    assert policy._target[0] == pytest.approx(6.0 - (2.0 + 10.0) / 14.3 / 10.0)
    with pytest.raises(ConfigError, match="no 'qoe'"):
        policy.act(obs, {})


def test_sampling_policy_is_seeded(abr_policy_model):
    obs = np.random.default_rng(0).random((6, 8)).astype(np.float32)
    runs = []
    for _ in range(2):
        policy = DecisionPolicy(abr_policy_model, STATS, "qoe", greedy=False, seed=7)
        runs.append([policy.act(obs, {"qoe": 1.0}) for _ in range(10)])
    assert runs[0] == runs[1]


@pytest.mark.parametrize("baseline", [BBA, RateBased])
def test_lockstep_evaluation_matches_the_abr_protocol(baseline):
    reference = evaluate_abr(baseline(), ABREnv("fcc-test", train=False))
    lockstep = evaluate(get_task("abr"), baseline, batch=64)
    assert lockstep["episodes"] == 100 and lockstep["chunks"] == reference.chunks
    assert lockstep["value"] == pytest.approx(reference.qoe, abs=1e-12)
    assert lockstep["per_trace_qoe"] == pytest.approx(reference.per_trace_qoe, abs=1e-12)
    assert lockstep["rebuffer_s"] == pytest.approx(reference.rebuffer_s, abs=1e-12)


def test_lockstep_evaluation_matches_the_viewport_windows():
    windows = load_windows("test")
    direct = mean_absolute_error(LinearRegression().predict(windows.history), windows.future)
    played = evaluate(get_task("vp"), LinearRegression, batch=16)
    assert played["windows"] == len(windows)
    assert played["value"] == pytest.approx(direct, rel=1e-6)  # float32 actions in the environment
