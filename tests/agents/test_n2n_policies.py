"""The N2N policies and REINFORCE, without training students: shapes, log-probabilities, and that
REINFORCE with its moving-average baseline learns a small bandit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agents.n2n.layers import FEATURES, layer_features
from agents.n2n.policies import RemovalPolicy, ShrinkPolicy
from agents.n2n.reinforce import Reinforce, ReinforceConfig
from agents.n2n.teachers import teacher_arch

TEACHER = teacher_arch("cnn", "digits")
FEATS = layer_features(TEACHER)


def test_removal_policy_samples_and_scores_consistently():
    torch.manual_seed(0)
    policy = RemovalPolicy(len(FEATURES), init_keep=0.8)
    sample = policy.sample(FEATS, 64, torch.Generator().manual_seed(0))
    assert sample.actions.shape == (64, len(TEACHER))
    assert set(sample.actions.unique().tolist()) <= {0, 1}
    assert 0.65 < sample.actions.float().mean() < 0.95  # starts near init_keep
    again = policy.log_prob(FEATS, sample.actions)
    torch.testing.assert_close(again.log_prob, sample.log_prob)


def test_shrink_policy_never_shrinks_pooling_and_scores_consistently():
    torch.manual_seed(0)
    policy = ShrinkPolicy(len(FEATURES), n_factors=4)
    mask = TEACHER.shrinkable_mask()
    sample = policy.sample(FEATS, mask, 32, torch.Generator().manual_seed(1))
    assert sample.actions.shape == (32, len(TEACHER))
    assert (sample.actions[:, ~torch.as_tensor(mask)] == 3).all()
    assert len(sample.actions[:, 0].unique()) > 1  # starts spread over the factors
    torch.testing.assert_close(policy.log_prob(FEATS, mask, sample.actions).log_prob, sample.log_prob)
    greedy = policy.greedy(FEATS, mask)
    np.testing.assert_array_equal(greedy, policy.greedy(FEATS, mask))


@pytest.mark.parametrize("which", ["removal", "shrink"])
def test_reinforce_learns_a_target_action(which):
    """Reward = fraction of layers whose action matches a target: the reward baseline must climb from
    chance and the greedy action must get (nearly) every layer right."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    mask = TEACHER.shrinkable_mask()
    if which == "removal":
        policy = RemovalPolicy(len(FEATURES))
        target = torch.tensor([1, 0, 1, 1, 0, 0])
    else:
        policy = ShrinkPolicy(len(FEATURES), n_factors=4)
        target = torch.tensor([0, 2, 3, 1, 3, 3])
    algo = Reinforce(policy, ReinforceConfig(lr=0.05, rollouts=8))
    first = None
    for _ in range(40):
        sample = policy.sample(FEATS, 8, gen) if which == "removal" else policy.sample(FEATS, mask, 8, gen)
        rewards = (sample.actions == target).float().mean(1).tolist()
        first = first if first is not None else float(np.mean(rewards))
        stats = algo.update(sample.log_prob, rewards, sample.entropy)
    greedy = policy.greedy(FEATS) if which == "removal" else policy.greedy(FEATS, mask)
    assert (greedy == target.numpy()).sum() >= len(target) - 1
    assert first < 0.6 and stats["baseline"] > 0.75


def test_reinforce_state_round_trip():
    policy = RemovalPolicy(len(FEATURES))
    algo = Reinforce(policy, ReinforceConfig())
    sample = policy.sample(FEATS, 4)
    algo.update(sample.log_prob, [0.1, 0.2, 0.3, 0.4])
    state = algo.state_dict()
    other = Reinforce(RemovalPolicy(len(FEATURES)), ReinforceConfig())
    other.load_state_dict(state)
    assert other.baseline == algo.baseline
    torch.testing.assert_close(other.policy.logits(FEATS), policy.logits(FEATS))
