"""Latency and dead time of each call, on the simulated clock (and, if asked, in real time)."""

from __future__ import annotations

import time
from typing import Any, Mapping

import numpy as np

from hwsim.device import Device
from hwsim.nonideal.base import NonIdealWrapper, check_nonneg
from hwsim.nonideal.clock import SimClock


class Latency(NonIdealWrapper):
    """Each call costs ``latency`` (request to reply, s) plus ``dead_time`` (instrument re-arm, s) on top of
    the acquisition time of its samples (``clock.sample_time`` each).

    Latency and dead time go to ``clock.overhead`` (they never feed drift or events); the samples advance
    the measurement time ``clock.t``, so this wrapper also keeps the clock running when no other wrapper
    does. With ``sleep=True`` each call also sleeps that long in real time (default off: simulated only).
    Counts are in :attr:`clock` (``clock.elapsed`` is the simulated lab time).
    """

    def __init__(self, inner: Device, latency: float = 0.0, dead_time: float = 0.0,
                 clock: SimClock | None = None, sleep: bool = False) -> None:
        super().__init__(inner)
        self.latency = check_nonneg("latency", latency, "seconds per call")
        self.dead_time = check_nonneg("dead_time", dead_time, "seconds per call")
        self.clock = clock if clock is not None else SimClock()
        self.sleep = bool(sleep)

    def _measure(self, x: np.ndarray) -> np.ndarray:
        n = x.shape[0]
        try:
            with self.clock.acquire(n):
                return self.inner.measure(x)
        finally:
            per_call = self.latency + self.dead_time
            self.clock.overhead += per_call
            if self.sleep:
                time.sleep(per_call + n * self.clock.sample_time)

    def _state(self) -> dict[str, Any]:
        return {"clock": self.clock.state_dict()}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        self.clock.load_state_dict(state["clock"])

    def __repr__(self) -> str:
        return f"<Latency latency={self.latency}s dead_time={self.dead_time}s of {self.inner!r}>"
