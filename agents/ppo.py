"""Stable-Baselines3 PPO on the networking environments (MaskablePPO where the environment masks
actions), and an adapter that makes a trained model a :class:`agents.policy.Policy`. hwsim's own
PPO, which steps the native vector environments much faster, is :mod:`agents.rl.ppo`."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any

import gymnasium as gym
import numpy as np

import agents  # noqa: F401  (registers the environments)


@dataclass
class SB3PPOConfig:
    """SB3 PPO hyperparameters (SB3 names); ``net_arch`` sizes both the policy and value MLPs."""

    n_envs: int = 8
    n_steps: int = 256
    batch_size: int = 256
    n_epochs: int = 4
    learning_rate: float = 3e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    ent_coef: float = 0.01
    net_arch: list[int] = field(default_factory=lambda: [128, 128])
    torch_threads: int = 1


def make_env(env_id: str, env_kwargs: dict[str, Any] | None = None) -> Any:
    """``gymnasium.make(env_id)`` after registering hwsim's environments (usable in a subprocess)."""

    return gym.make(env_id, **(env_kwargs or {}))


def make_ppo(env_id: str, config: SB3PPOConfig | None = None, seed: int = 0,
             env_kwargs: dict[str, Any] | None = None, subprocess: bool = False) -> Any:
    """A PPO model (MaskablePPO when the environment has ``action_masks``) on ``n_envs`` copies of
    the registered environment ``env_id`` (``config`` defaults to :class:`SB3PPOConfig`)."""
    import torch
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    config = SB3PPOConfig() if config is None else config
    torch.set_num_threads(config.torch_threads)
    probe = make_env(env_id, env_kwargs)
    masked = hasattr(probe.unwrapped, "action_masks")
    probe.close()
    vec = make_vec_env(partial(make_env, env_id, env_kwargs), n_envs=config.n_envs, seed=seed,
                       vec_env_cls=SubprocVecEnv if subprocess else DummyVecEnv)
    kwargs = dict(n_steps=config.n_steps, batch_size=config.batch_size, n_epochs=config.n_epochs,
                  learning_rate=config.learning_rate, gamma=config.gamma, gae_lambda=config.gae_lambda,
                  ent_coef=config.ent_coef, policy_kwargs={"net_arch": list(config.net_arch)}, seed=seed,
                  verbose=0, device="cpu")
    if masked:
        from sb3_contrib import MaskablePPO

        return MaskablePPO("MlpPolicy", vec, **kwargs)
    from stable_baselines3 import PPO

    return PPO("MlpPolicy", vec, **kwargs)


class SB3Policy:
    """A trained SB3 model as a :class:`~agents.policy.Policy` (deterministic actions, masks from
    ``info["action_mask"]`` when the environment gives them)."""

    def __init__(self, model: Any, name: str = "ppo", deterministic: bool = True) -> None:
        self.model = model
        self.name = name
        self.deterministic = deterministic

    def reset(self) -> None:
        """The MLP policy keeps no state."""

    def act(self, obs: Any, info: dict[str, Any]) -> Any:
        """The model's action for ``obs``."""
        kwargs = {"action_masks": info["action_mask"]} if "action_mask" in info else {}
        action, _ = self.model.predict(obs, deterministic=self.deterministic, **kwargs)
        return int(action) if np.ndim(action) == 0 else action
