"""The adapted model as a policy: the same ``reset()`` / ``act(obs, info)`` interface as the baselines
(:class:`agents.policy.Policy`), so it plays any environment through the plain gymnasium API.

Both policies also act on a batch of episodes at once (``reset_batch(n)``, ``act_batch(obs, infos)``,
``keep(rows)`` when some episodes end), which :func:`agents.netllm.evaluate.play_lockstep` uses to
evaluate many episodes in one forward pass; ``act`` is the batch of one.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from agents.netllm.backbone import select_cache_rows
from agents.netllm.offline_rl import DecisionModel, DecodeState, ReturnStats
from agents.netllm.supervised import TrajectoryModel
from hwsim.errors import ConfigError


def _device(model: torch.nn.Module) -> torch.device:
    return next(p for p in model.parameters()).device


class DecisionPolicy:
    """A return-conditioned :class:`~agents.netllm.offline_rl.DecisionModel` acting step by step.

    The target return starts at ``target_return_scale`` x the best return-to-go of the training pool
    and drops by each normalised reward, read from ``info[reward_key]`` (the reward of the previous
    action; the reset's info carries none that counts). ``greedy`` picks the most likely action,
    otherwise actions are sampled from the softmax with ``seed``.
    """

    def __init__(self, model: DecisionModel, stats: ReturnStats, reward_key: str, target_return_scale: float = 1.0,
                 greedy: bool = True, seed: int = 0, name: str = "netllm") -> None:
        self.model = model.eval()
        self.stats = stats
        self.reward_key = reward_key
        self.target_return_scale = float(target_return_scale)
        self.greedy = bool(greedy)
        self.name = name
        self._rng = torch.Generator().manual_seed(int(seed))
        self.reset()

    def reset(self) -> None:
        """Start one new episode."""
        self.reset_batch(1)

    def reset_batch(self, n: int) -> None:
        """Start ``n`` new episodes, acted on together."""
        self._state = DecodeState()
        self._target = np.full(n, self.stats.max_return * self.target_return_scale)
        self._t = np.zeros(n, dtype=np.int64)
        self._prev = np.full(n, self.model.num_actions, dtype=np.int64)

    def keep(self, rows: Sequence[int]) -> None:
        """Continue only the episodes at positions ``rows`` of the batch (the others ended)."""
        rows = np.asarray(rows, dtype=np.int64)
        if self._state.cache is not None:
            select_cache_rows(self._state.cache, torch.as_tensor(rows, device=_device(self.model)))
        self._target, self._t, self._prev = self._target[rows], self._t[rows], self._prev[rows]

    def act(self, obs: Any, info: dict[str, Any]) -> int:
        """The action for one episode."""
        return int(self.act_batch(np.asarray(obs)[None], [info])[0])

    def act_batch(self, obs: np.ndarray, infos: Sequence[dict[str, Any]]) -> np.ndarray:
        """Actions for every episode of the batch."""
        if len(infos) != len(self._t):
            raise ConfigError(f"act_batch got {len(infos)} episodes; reset_batch started {len(self._t)}")
        for i, info in enumerate(infos):
            if self._t[i] > 0:
                if self.reward_key not in info:
                    raise ConfigError(f"the environment's info has no '{self.reward_key}' (the reward this policy "
                                      "conditions on); use the policy with the environment it was trained for")
                self._target[i] -= float(self.stats.normalise(info[self.reward_key]))
        device = _device(self.model)

        def t(a: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
            return torch.as_tensor(np.asarray(a), dtype=dtype, device=device)

        logits = self.model.act_step(self._state, t(obs, torch.float32), t(self._prev, torch.long),
                                     t(self._target, torch.float32), t(self._t, torch.long))
        if self.greedy:
            actions = logits.argmax(-1).cpu().numpy()
        else:
            probs = torch.softmax(logits.float().cpu(), -1)
            actions = torch.multinomial(probs, 1, generator=self._rng)[:, 0].numpy()
        self._prev = actions.astype(np.int64)
        self._t += 1
        return actions


class TrajectoryPolicy:
    """A :class:`~agents.netllm.supervised.TrajectoryModel` as a viewport policy: the observation (past
    orientations, normalised) in, the predicted future trajectory (normalised, float32) out."""

    def __init__(self, model: TrajectoryModel, name: str = "netllm-vp") -> None:
        self.model = model.eval()
        self.name = name

    def reset(self) -> None:
        """The predictor keeps no state between episodes."""

    def reset_batch(self, n: int) -> None:
        """The predictor keeps no state."""

    def keep(self, rows: Sequence[int]) -> None:
        """The predictor keeps no state."""

    def act(self, obs: Any, info: dict[str, Any]) -> np.ndarray:
        """The predicted trajectory of one window."""
        return self.act_batch(np.asarray(obs)[None], [info])[0]

    def act_batch(self, obs: np.ndarray, infos: Sequence[dict[str, Any]]) -> np.ndarray:
        """Predicted trajectories of a batch of windows."""
        return self.model.predict(np.asarray(obs, dtype=np.float32)).astype(np.float32)
