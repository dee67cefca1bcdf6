"""Experience pools: what existing policies did in an environment, step by step, for offline
training (NetLLM learns ABR from such a pool instead of interacting with the environment).

A pool is a flat sequence of steps from consecutive episodes: the observation before the action,
the action, the reward it earned, whether the episode ended there, which policy acted, and
optionally a supervised target read from the step's ``info`` (viewport prediction's true future).
Pools are saved as ``.npz`` files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import gymnasium as gym
import numpy as np

import agents  # noqa: F401  (registers the environments)
from agents.policy import Policy
from hwsim.errors import ConfigError, DataError
from hwsim.progress import progress

POOL_FORMAT = 1


@dataclass
class ExperiencePool:
    """Steps of whole episodes: ``observations (N, ...)``, ``actions (N, ...)``, ``rewards (N,)``,
    ``dones (N,)`` (true on each episode's last step), ``policies (N,)`` (index into
    ``policy_names``), the environment id, and ``targets (N, ...)`` or ``None``."""

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    dones: np.ndarray
    policies: np.ndarray
    policy_names: tuple[str, ...]
    env_id: str
    targets: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.rewards)
        arrays = {"observations": self.observations, "actions": self.actions, "dones": self.dones,
                  "policies": self.policies}
        if self.targets is not None:
            arrays["targets"] = self.targets
        bad = {k: len(v) for k, v in arrays.items() if len(v) != n}
        if bad:
            raise DataError(f"experience pool arrays disagree in length: rewards has {n} steps, {bad}")
        if n == 0:
            raise DataError("experience pool is empty; collect at least one episode")
        if not bool(self.dones[-1]):
            raise DataError("experience pool must end with a finished episode (dones[-1] is false)")
        if self.policies.min() < 0 or self.policies.max() >= len(self.policy_names):
            raise DataError("experience pool policy indices point outside policy_names")

    def __len__(self) -> int:
        return len(self.rewards)

    def episodes(self) -> list[slice]:
        """The step range of every episode, in order."""
        ends = np.flatnonzero(self.dones) + 1
        starts = np.concatenate([[0], ends[:-1]])
        return [slice(int(a), int(b)) for a, b in zip(starts, ends)]

    def summary(self) -> dict[str, Any]:
        """Episodes, steps and mean reward per step of each policy in the pool."""
        out: dict[str, Any] = {"env_id": self.env_id, "steps": len(self), "episodes": len(self.episodes()),
                               "policies": {}}
        for i, name in enumerate(self.policy_names):
            mask = self.policies == i
            eps = sum(1 for s in self.episodes() if self.policies[s.start] == i)
            out["policies"][name] = {"episodes": eps, "steps": int(mask.sum()),
                                     "mean_reward": float(self.rewards[mask].mean()) if mask.any() else None}
        return out

    def save(self, path: str | Path) -> Path:
        """Write the pool to ``path`` (``.npz``)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"observations": self.observations, "actions": self.actions, "rewards": self.rewards,
                  "dones": self.dones, "policies": self.policies}
        if self.targets is not None:
            arrays["targets"] = self.targets
        meta = {"format": POOL_FORMAT, "env_id": self.env_id, "policy_names": list(self.policy_names)}
        with open(path, "wb") as fh:  # a file handle keeps numpy from appending a second .npz
            np.savez_compressed(fh, meta=np.array(json.dumps(meta)), **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> ExperiencePool:
        """Read a pool written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise DataError(f"experience pool {path} does not exist; create it with 'hwsim netllm collect'")
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                arrays = {k: data[k] for k in data.files if k != "meta"}
        except (ValueError, KeyError, OSError) as exc:
            raise DataError(f"{path} is not an experience pool written by 'hwsim netllm collect': {exc}") from exc
        if meta.get("format") != POOL_FORMAT:
            raise DataError(f"{path} has pool format {meta.get('format')}; this version reads format {POOL_FORMAT}")
        required = ("observations", "actions", "rewards", "dones", "policies")
        missing = [k for k in required if k not in arrays]
        if missing:
            raise DataError(f"experience pool {path} lacks arrays {missing}")
        return cls(arrays["observations"], arrays["actions"], arrays["rewards"], arrays["dones"].astype(bool),
                   arrays["policies"], tuple(meta["policy_names"]), meta["env_id"], arrays.get("targets"))


def collect(env_id: str, policies: Sequence[Policy], episodes: int, seed: int = 0,
            target: Callable[[dict[str, Any]], np.ndarray] | None = None,
            options: Callable[[int], dict[str, Any] | None] | None = None,
            env_kwargs: dict[str, Any] | None = None, desc: str = "collect") -> ExperiencePool:
    """Play ``episodes`` episodes of the registered environment ``env_id`` with each policy and
    record every step. Episode ``i`` of every policy is reset with seed ``seed + i`` and
    ``options(i)``, so all policies meet the same episodes; ``target(info)`` (if given) is stored
    for each step from the info the step returned."""

    if episodes < 1 or not policies:
        raise ConfigError("collect needs at least one policy and one episode")
    names = [p.name for p in policies]
    if len(set(names)) != len(names):
        raise ConfigError(f"policy names must be distinct; got {names}")
    env = gym.make(env_id, **(env_kwargs or {}))
    obs_l: list[np.ndarray] = []
    act_l: list[Any] = []
    rew_l: list[float] = []
    done_l: list[bool] = []
    pol_l: list[int] = []
    tgt_l: list[np.ndarray] = []
    try:
        for k, policy in enumerate(policies):
            for i in progress(range(episodes), desc=f"{desc} {policy.name}"):
                obs, info = env.reset(seed=seed + i, options=options(i) if options else None)
                policy.reset()
                while True:
                    action = policy.act(obs, info)
                    next_obs, reward, terminated, truncated, info = env.step(action)
                    obs_l.append(np.asarray(obs, dtype=np.float32))
                    act_l.append(np.asarray(action))
                    rew_l.append(float(reward))
                    done_l.append(bool(terminated or truncated))
                    pol_l.append(k)
                    if target is not None:
                        tgt_l.append(np.asarray(target(info), dtype=np.float32))
                    obs = next_obs
                    if terminated or truncated:
                        break
    finally:
        env.close()
    return ExperiencePool(np.stack(obs_l), np.stack(act_l), np.asarray(rew_l), np.asarray(done_l),
                          np.asarray(pol_l, dtype=np.int64), tuple(names), env_id,
                          np.stack(tgt_l) if target is not None else None)
