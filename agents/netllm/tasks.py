"""What each networking task uses: its environments, the baselines that fill its experience pool,
the model built around the backbone, how its episodes are addressed and how results are summarised.
Everything here goes through the environments' public gymnasium interface (spaces, ``reset``
options, ``info``); the environments know nothing about NetLLM."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable

import gymnasium as gym
import numpy as np

import agents  # noqa: F401  (registers the environments)
from agents.abr.baselines import BASELINES as ABR_BASELINES
from agents.abr.baselines import RobustMPC
from agents.abr.evaluate import ABRResult
from agents.baselines.viewport import BASELINES as VIEWPORT_BASELINES
from agents.netllm.encoders import ABR_ROWS, ABRStateEncoder
from agents.netllm.offline_rl import DecisionModel
from agents.netllm.supervised import TrajectoryModel
from agents.policy import Policy
from agents.viewport_data import ANGLE_SCALE, PERIODIC, normalise
from hwsim.errors import ConfigError


def _abr_baselines() -> dict[str, Callable[[], Policy]]:
    table: dict[str, Callable[[], Policy]] = dict(ABR_BASELINES)
    table["mpc-netllm"] = RobustMPC.netllm_variant
    return table


def _vp_baselines() -> dict[str, Callable[[], Policy]]:
    return dict(VIEWPORT_BASELINES)


def _vp_target(info: dict[str, Any]) -> np.ndarray:
    return normalise(info["target_deg"]).astype(np.float32)


def _abr_summary(episodes: list) -> dict[str, Any]:
    qoe, bitrate, rebuffer, smooth, per_trace = [], [], [], [], []
    for ep in episodes:
        last = ep.first_info["bitrate_kbps"]
        for info in ep.infos:
            bitrate.append(info["bitrate_kbps"] / 1000.0)
            rebuffer.append(info["rebuffer_s"])
            smooth.append(abs(info["bitrate_kbps"] - last) / 1000.0)
            last = info["bitrate_kbps"]
        qoe += ep.rewards
        per_trace.append(float(np.mean(ep.rewards)))
    result = ABRResult(float(np.mean(qoe)), float(np.mean(bitrate)), float(np.mean(rebuffer)), float(np.mean(smooth)),
                       len(qoe), per_trace)
    return {"metric": "qoe_per_chunk", "value": result.qoe, **asdict(result)}


def _vp_summary(episodes: list) -> dict[str, Any]:
    errors = [-r for ep in episodes for r in ep.rewards]
    per_episode = [float(-np.mean(ep.rewards)) for ep in episodes]
    return {"metric": "mae_deg", "value": float(np.mean(errors)), "windows": len(errors),
            "per_episode_mae": per_episode}


@dataclass(frozen=True)
class Task:
    """One networking task as NetLLM adapts to it.

    ``kind``: ``offline-rl`` (return-conditioned, learns from the pool's actions and rewards) or
    ``supervised`` (learns the pool's targets). ``reward_key``: the info entry holding the reward
    of the previous action, which the return-conditioned policy subtracts from its target.
    ``walk_episodes``: collection plays every episode of the training environment in order
    (``episode_option``) instead of random seeded ones. ``episode_option``: the reset option that
    selects episode ``i``; ``episode_list``: the attribute of the unwrapped environment that lists
    its episodes (traces, trajectories).
    """

    name: str
    kind: str
    train_env: str
    test_env: str
    pool_policies: tuple[str, ...]
    baselines: Callable[[], dict[str, Callable[[], Policy]]]
    episode_option: str
    episode_list: str
    summarise: Callable[[list], dict[str, Any]]
    reward_key: str | None = None
    target: Callable[[dict[str, Any]], np.ndarray] | None = None
    walk_episodes: bool = False

    def make_policy(self, name: str) -> Policy:
        """A fresh baseline policy by name."""
        table = self.baselines()
        if name not in table:
            raise ConfigError(f"unknown {self.name} policy '{name}'; choose from {sorted(table)}")
        return table[name]()

    def episode_count(self, env: Any) -> int:
        """How many episodes (traces, trajectories) the environment holds."""
        return len(getattr(env.unwrapped, self.episode_list))

    def options(self, index: int) -> dict[str, Any]:
        """Reset options that select episode ``index``."""
        return {self.episode_option: int(index)}


TASKS: dict[str, Task] = {
    "abr": Task("abr", "offline-rl", "hwsim/ABR-v0", "hwsim/ABR-FCC-Test-v0", ("mpc",),
                _abr_baselines, "trace_index", "traces", _abr_summary, reward_key="qoe"),
    "vp": Task("vp", "supervised", "hwsim/Viewport-v0", "hwsim/Viewport-Test-v0", ("linear",),
               _vp_baselines, "trajectory_index", "trajectories", _vp_summary, target=_vp_target,
               walk_episodes=True),
}


def get_task(name: str) -> Task:
    """The task called ``name`` (``abr`` or ``vp``)."""
    if name not in TASKS:
        raise ConfigError(f"unknown task '{name}'; choose from {sorted(TASKS)}")
    return TASKS[name]


def env_spaces(env_id: str) -> dict[str, Any]:
    """The observation shape and action description of a registered environment."""

    env = gym.make(env_id)
    try:
        obs = tuple(int(n) for n in env.observation_space.shape)
        space = env.action_space
        if isinstance(space, gym.spaces.Discrete):
            action = {"type": "discrete", "n": int(space.n)}
        elif isinstance(space, gym.spaces.Box):
            action = {"type": "box", "shape": [int(n) for n in space.shape]}
        else:
            raise ConfigError(f"{env_id}'s action space {space} is neither Discrete nor Box")
    finally:
        env.close()
    return {"observation_shape": list(obs), "action": action}


def build_model(task: Task, backbone: Any, spaces: dict[str, Any], config: Any, max_timestep: int = 0) -> Any:
    """The trainable model of ``task`` around ``backbone`` for environments with ``spaces``
    (from :func:`env_spaces`); ``max_timestep`` bounds the decision model's timestep embedding."""
    obs_shape, action = tuple(spaces["observation_shape"]), spaces["action"]
    if task.kind == "offline-rl":
        if action["type"] != "discrete":
            raise ConfigError(f"task {task.name} needs a discrete action space")
        history_len = obs_shape[-1] if len(obs_shape) > 1 else obs_shape[0] // ABR_ROWS  # flat or (6, history)
        encoder = ABRStateEncoder(backbone.hidden_size, history_len=history_len, levels=action["n"],
                                  feature_dim=config.feature_dim)
        return DecisionModel(backbone, encoder, action["n"], max_timestep, config.context)

    if action["type"] != "box" or len(action["shape"]) != 2:
        raise ConfigError(f"task {task.name} needs a (future, 3) box action space")
    return TrajectoryModel(backbone, action["shape"][0], tuple(float(s) for s in ANGLE_SCALE),
                           tuple(bool(p) for p in PERIODIC), config.feature_dim)
