"""Classic bitrate controllers for :class:`agents.abr.env.ABREnv`: buffer-based (BBA), rate-based
and robustMPC. Each reads what it needs from the environment's ``info``."""

from __future__ import annotations

import itertools
from collections import deque
from typing import Any

import numpy as np

from agents.abr.sim import BITRATES_KBPS, CHUNK_MS, REBUFFER_PENALTY, SMOOTH_PENALTY, TOTAL_CHUNKS

LEVELS = len(BITRATES_KBPS)


class BBA:
    """Buffer-based adaptation (Huang et al., SIGCOMM 2014): lowest bitrate below the reservoir,
    highest above reservoir + cushion, a linear map of the buffer in between."""

    name = "bba"

    def __init__(self, reservoir_s: float = 5.0, cushion_s: float = 10.0) -> None:
        self.reservoir_s = float(reservoir_s)
        self.cushion_s = float(cushion_s)

    def reset(self) -> None:
        """BBA keeps no state."""

    def act(self, obs: Any, info: dict[str, Any]) -> int:
        """Bitrate level from the buffer level ``info["buffer_s"]``."""
        buffer_s = info["buffer_s"]
        if buffer_s < self.reservoir_s:
            return 0
        if buffer_s >= self.reservoir_s + self.cushion_s:
            return LEVELS - 1
        return int((LEVELS - 1) * (buffer_s - self.reservoir_s) / self.cushion_s)


class _ThroughputHistory:
    """Chunk throughputs (MB/s) seen this episode, newest last."""

    def __init__(self, window: int) -> None:
        self.window = int(window)
        self.values: deque[float] = deque(maxlen=self.window)

    def reset(self) -> None:
        self.values.clear()

    def add(self, info: dict[str, Any]) -> None:
        self.values.append(info["chunk_bytes"] / info["delay_ms"] / 1000.0)

    def harmonic_mean(self) -> float:
        return len(self.values) / sum(1.0 / v for v in self.values)


class RateBased:
    """Rate-based adaptation: the highest bitrate not above the harmonic mean of the last
    ``window`` chunk throughputs."""

    name = "rate"

    def __init__(self, window: int = 5) -> None:
        self.history = _ThroughputHistory(window)

    def reset(self) -> None:
        """Forget the throughput history."""
        self.history.reset()

    def act(self, obs: Any, info: dict[str, Any]) -> int:
        """Bitrate level from the predicted throughput."""
        self.history.add(info)
        kbps = self.history.harmonic_mean() * 8000.0  # MB/s -> kbit/s
        fitting = [q for q, rate in enumerate(BITRATES_KBPS) if rate <= kbps]
        return fitting[-1] if fitting else 0


class RobustMPC:
    """robustMPC (Yin et al., SIGCOMM 2015, as in Pensieve's ``test/mpc.py``): predict throughput as
    the harmonic mean of the last 5 chunk throughputs divided by 1 + the largest relative prediction
    error of the last 5 chunks, then pick the first bitrate of the best plan over the next
    ``horizon`` chunks, searching every plan, by QoE_lin with simulated buffer and rebuffering.

    By default the plan starts at the next chunk and may switch freely. ``offset=1`` reproduces the
    reference's off-by-one (plans are costed with the sizes of the chunks after the next one), and
    ``max_switch=1`` NetLLM's variant, which only searches plans that move at most one level per
    chunk; ``netllm_variant()`` sets both.

    **Scoring and ties.** A plan scores ``sum of bitrates - smoothness penalty`` in integer kbps (so
    plans with equal bitrate terms score exactly equal, whatever the order of the sums) minus
    ``4300 x rebuffering (s)``. Plans within :attr:`TIE_KBPS` of the best score are equal, and of equal
    plans the lexicographically greatest level sequence wins. That is the plan Pensieve's ``mpc.py``
    keeps (it keeps the last of equal plans in ``itertools.product`` order); here the rule depends on
    the plans themselves, not on the order they are searched in.
    """

    TIE_KBPS = 1e-6

    name = "mpc"

    def __init__(self, horizon: int = 5, window: int = 5, offset: int = 0, max_switch: int | None = None) -> None:
        self.horizon = int(horizon)
        self.offset = int(offset)
        self.max_switch = max_switch
        self.history = _ThroughputHistory(window)
        self.errors: deque[float] = deque(maxlen=window)
        self.last_estimate: float | None = None
        self._sizes_key: Any = None
        self._sizes = np.zeros((LEVELS, 0))
        rates = np.asarray(BITRATES_KBPS, dtype=np.int64)
        # plans[h] = every sequence of h levels; base[h][last] = bitrate sum - smoothness penalty (kbps,
        # exact integers); code[h] = the plan as a base-LEVELS number (lexicographic order, for ties)
        self.plans: dict[int, np.ndarray] = {}
        self.base: dict[int, np.ndarray] = {}
        self.code: dict[int, np.ndarray] = {}
        for h in range(1, self.horizon + 1):
            plans = np.array(list(itertools.product(range(LEVELS), repeat=h)), dtype=np.int64)
            steps = np.abs(np.diff(rates[plans], axis=1)).sum(axis=1)
            first = rates[plans[:, 0]]
            self.plans[h] = plans
            self.code[h] = plans @ (LEVELS ** np.arange(h - 1, -1, -1))
            base = np.stack([rates[plans].sum(axis=1) - SMOOTH_PENALTY * (steps + np.abs(first - rates[last]))
                             for last in range(LEVELS)]).astype(np.float64)
            if max_switch is not None:  # rule out plans that jump more than max_switch levels
                jumps = np.abs(np.diff(plans, axis=1)).max(axis=1, initial=0)
                for last in range(LEVELS):
                    bad = (jumps > max_switch) | (np.abs(plans[:, 0] - last) > max_switch)
                    base[last, bad] = -np.inf
            self.base[h] = base

    @classmethod
    def netllm_variant(cls) -> RobustMPC:
        """robustMPC as NetLLM's ``run_baseline.py`` runs it: one-level switches, off-by-one lookahead."""
        obj = cls(offset=1, max_switch=1)
        obj.name = "mpc-netllm"
        return obj

    def reset(self) -> None:
        """Forget throughputs, estimates and errors."""
        self.history.reset()
        self.errors.clear()
        self.last_estimate = None

    def predict_throughput(self, info: dict[str, Any]) -> float:
        """Robust throughput estimate (MB/s) after the chunk described by ``info``."""
        self.history.add(info)
        actual = self.history.values[-1]
        self.errors.append(0.0 if self.last_estimate is None else abs(self.last_estimate - actual) / actual)
        estimate = self.history.harmonic_mean()
        self.last_estimate = estimate
        return estimate / (1.0 + max(self.errors))

    def act(self, obs: Any, info: dict[str, Any]) -> int:
        """First bitrate of the best plan over the next chunks."""
        bandwidth = self.predict_throughput(info)
        chunk = int(info["chunk_index"])
        horizon = min(self.horizon, TOTAL_CHUNKS - chunk)
        if horizon <= 0:
            return int(info["quality"])
        plans = self.plans[horizon]
        first = chunk + self.offset
        sizes = np.zeros((LEVELS, horizon))  # chunks past the end of the file cost nothing, as in the reference
        if info["video_sizes"] is not self._sizes_key:  # convert the env's size table once
            self._sizes_key = info["video_sizes"]
            self._sizes = np.asarray(self._sizes_key, dtype=np.float64)
        avail = self._sizes[:, first:first + horizon]
        sizes[:, :avail.shape[1]] = avail
        seconds = sizes[plans, np.arange(horizon)] / 1e6 / bandwidth  # (plans, horizon)
        buffer = np.full(len(plans), float(info["buffer_s"]))
        rebuffer = np.zeros(len(plans))
        for k in range(horizon):
            rebuffer += np.maximum(seconds[:, k] - buffer, 0.0)
            buffer = np.maximum(buffer - seconds[:, k], 0.0) + CHUNK_MS / 1000.0
        score = self.base[horizon][int(info["quality"])] - REBUFFER_PENALTY * 1000.0 * rebuffer  # kbps
        tied = score >= score.max() - self.TIE_KBPS
        best = int(np.argmax(np.where(tied, self.code[horizon], -1)))
        return int(plans[best, 0])


BASELINES = {cls.name: cls for cls in (BBA, RateBased, RobustMPC)}
