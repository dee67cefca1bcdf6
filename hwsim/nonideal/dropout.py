"""Dropped replies: the instrument measured, but the reply never arrived."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from hwsim.device import Device
from hwsim.errors import ConfigError, TransientDeviceError
from hwsim.nonideal.base import NonIdealWrapper, find_clock, rng_state, seeded_rng, set_rng_state


class Dropout(NonIdealWrapper):
    """With probability ``p`` per request, measure (the samples are counted, here and below), then raise
    :class:`~hwsim.errors.TransientDeviceError` instead of returning the reply.

    The lost call costs its measurements and its time: latency, dead time and the samples' acquisition
    time all land in the clock's ``overhead``. The stochastic state of the wrapped chain (noise, drift,
    events, measurement time) is put back as it was before the lost call, so the retry reproduces the
    measurement whose reply was lost -- as a board that re-sends its cached reply would -- and a run gives
    the same outputs however its batches are split into calls. Drops use this wrapper's own RNG (``seed``),
    one draw per :meth:`measure` call (a request: the whole batch is measured, counted, then lost).
    """

    def __init__(self, inner: Device, p: float = 0.0, seed: int = 0) -> None:
        super().__init__(inner)
        p = float(p)
        if not 0.0 <= p < 1.0:
            raise ConfigError(f"dropout probability must be in [0, 1), got {p!r}")
        self.p = p
        self.seed = seed
        self.rng = seeded_rng(seed, "dropout")
        self.dropped = 0

    def measure(self, x: np.ndarray) -> np.ndarray:
        """Measure like the wrapped device, or raise :class:`TransientDeviceError` for a lost reply."""
        x = self.check_input(x)
        drop = bool(self.rng.random() < self.p)
        save = getattr(self.inner, "state_dict", None)
        before = save() if drop and callable(save) else None
        y = super().measure(x)  # measured and counted, lost or not
        if not drop:
            return y
        # The reply is lost: keep the cost, roll the stochastic state back to before this request.
        clock = find_clock(self.inner)
        overhead = clock.overhead if clock is not None else 0.0
        if before is not None:
            self.inner.load_state_dict(before)
        if clock is not None:
            clock.overhead = overhead + x.shape[0] * clock.sample_time
        self.dropped += 1
        raise TransientDeviceError(f"reply from '{self.info.name}' lost (simulated dropout, p={self.p}); "
                                   "retry the same request")

    def _state(self) -> dict[str, Any]:
        return {"rng": rng_state(self.rng), "dropped": self.dropped}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        set_rng_state(self.rng, state["rng"])
        self.dropped = int(state["dropped"])

    def __repr__(self) -> str:
        return f"<Dropout p={self.p} dropped={self.dropped} of {self.inner!r}>"
