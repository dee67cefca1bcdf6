"""Probe jobs for checking a back end: one that does nothing (what a job costs the runner) and one that
computes a seeded value and takes a set time (for placement, retries and resume)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np


def trivial(config: dict[str, Any]) -> dict[str, Any]:
    """Return the job's seed: the runner's own cost per job, nothing else."""
    return {"seed": config["seed"]}


def seeded_value(config: dict[str, Any]) -> dict[str, Any]:
    """The sum of ``config.get("n", 1000)`` standard normal draws seeded by ``config["seed"]``, after
    sleeping ``config.get("sleep_s", 0)`` seconds."""
    time.sleep(float(config.get("sleep_s", 0.0)))
    draws = np.random.default_rng(int(config["seed"])).standard_normal(int(config.get("n", 1000)))
    return {"seed": config["seed"], "value": float(draws.sum())}
