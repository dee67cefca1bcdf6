"""A few hundred steps of SB3 PPO (MaskablePPO for cluster scheduling) on each environment kind,
then the trained model acting through the common policy interface. No learning is claimed."""

from __future__ import annotations

import numpy as np
import pytest

from agents.ppo import SB3PPOConfig, SB3Policy, make_env, make_ppo

CONFIG = SB3PPOConfig(n_envs=2, n_steps=64, batch_size=64, n_epochs=1, net_arch=[32])


@pytest.mark.parametrize("env_id, kwargs, algo", [
    ("hwsim/ABR-v0", None, "PPO"),
    ("hwsim/Viewport-v0", None, "PPO"),
    ("hwsim/ClusterScheduling-Small-v0", {"num_jobs": 3}, "MaskablePPO"),
])
def test_ppo_runs(env_id, kwargs, algo):
    model = make_ppo(env_id, CONFIG, seed=0, env_kwargs=kwargs)
    assert type(model).__name__ == algo
    model.learn(total_timesteps=256)
    assert model.num_timesteps >= 256
    env = make_env(env_id, kwargs)
    policy = SB3Policy(model)
    obs, info = env.reset(seed=1)
    rewards = []
    for _ in range(200):
        obs, reward, terminated, truncated, info = env.step(policy.act(obs, info))
        rewards.append(reward)
        if algo == "MaskablePPO":  # masked sampling never picks an invalid stage or limit
            assert info["action_valid"]
        if terminated or truncated:
            break
    assert rewards and np.all(np.isfinite(rewards))
