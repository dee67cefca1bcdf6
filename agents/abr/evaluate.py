"""The ABR test protocol: play every trace of a test trace set once and average QoE per chunk."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from agents.policy import Policy


@dataclass
class ABRResult:
    """Per-chunk averages over every decided chunk of every trace (the first chunk is not decided)."""

    qoe: float
    bitrate_mbps: float
    rebuffer_s: float
    smoothness_mbps: float
    chunks: int
    per_trace_qoe: list[float]


def evaluate_abr(policy: Policy, env: Any) -> ABRResult:
    """Play each trace of ``env`` (an :class:`~agents.abr.env.ABREnv`, possibly wrapped) once with
    ``policy``; returns the mean QoE_lin per chunk and its parts."""
    base = env.unwrapped
    qoe, bitrate, rebuffer, smooth, per_trace = [], [], [], [], []
    for index in range(len(base.traces)):
        obs, info = env.reset(options={"trace_index": index})
        policy.reset()
        last_kbps = info["bitrate_kbps"]
        rewards = []
        while True:
            obs, reward, terminated, truncated, info = env.step(policy.act(obs, info))
            rewards.append(reward)
            bitrate.append(info["bitrate_kbps"] / 1000.0)
            rebuffer.append(info["rebuffer_s"])
            smooth.append(abs(info["bitrate_kbps"] - last_kbps) / 1000.0)
            last_kbps = info["bitrate_kbps"]
            if terminated or truncated:
                break
        qoe += rewards
        per_trace.append(float(np.mean(rewards)))
    return ABRResult(float(np.mean(qoe)), float(np.mean(bitrate)), float(np.mean(rebuffer)),
                     float(np.mean(smooth)), len(qoe), per_trace)

