"""The simulated clock shared by the wrappers of one chain. Never the wall clock."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Mapping

import numpy as np

from hwsim.errors import ConfigError


class SimClock:
    """Simulated time in seconds, in two parts.

    * ``t`` -- measurement time: ``samples * sample_time``, the acquisition time of every delivered
      sample. Drift and perturbation events run on it, sample by sample, so a batch measured in one
      call or split over several calls sees exactly the same times.
    * ``overhead`` -- per-call latency and dead time (and the acquisition time of lost replies); it
      never feeds a random process.

    ``elapsed = t + overhead`` is what a lab clock would show. Wrappers advance the clock through
    :meth:`acquire`; only the outermost acquire of a call advances ``samples``, so every wrapper of
    the chain sees the same sample times. One clock serves one chain in one thread.
    """

    def __init__(self, sample_time: float = 1e-3) -> None:
        sample_time = float(sample_time)
        if not np.isfinite(sample_time) or sample_time <= 0:
            raise ConfigError(f"sample_time must be a positive number of seconds per sample, got {sample_time!r}")
        self.sample_time = sample_time
        self.samples = 0
        self.overhead = 0.0
        self._depth = 0

    @property
    def t(self) -> float:
        """Measurement time in seconds (drives drift and perturbation events)."""
        return self.samples * self.sample_time

    @property
    def elapsed(self) -> float:
        """Measurement time plus per-call overhead, in seconds."""
        return self.t + self.overhead

    def sample_times(self, n: int) -> np.ndarray:
        """Times (s) of the next ``n`` samples: sample ``k`` (counting from 1) is acquired at ``k * sample_time``."""
        return (self.samples + np.arange(1, n + 1, dtype=np.int64)) * self.sample_time

    def acquire(self, n: int) -> _Acquisition:
        """Context manager for measuring ``n`` samples: yields their times and, if it is the outermost
        acquire in progress and the body succeeds, advances ``samples`` by ``n`` on exit."""
        return _Acquisition(self, int(n))

    def state_dict(self) -> dict[str, Any]:
        """Plain-value state: sample count and overhead (the sample time is configuration)."""
        return {"samples": self.samples, "overhead": self.overhead, "sample_time": self.sample_time}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` output; the sample time must match this clock's."""
        if float(state["sample_time"]) != self.sample_time:
            raise ConfigError(f"saved clock has sample_time {state['sample_time']} s, this one {self.sample_time} s: "
                              "rebuild the device with the same profile before loading its state")
        self.samples = int(state["samples"])
        self.overhead = float(state["overhead"])

    def __repr__(self) -> str:
        return f"<SimClock t={self.t:.6g}s overhead={self.overhead:.6g}s samples={self.samples}>"


class _Acquisition:
    """One wrapper's view of the batch in progress (see :meth:`SimClock.acquire`)."""

    def __init__(self, clock: SimClock, n: int) -> None:
        self.clock = clock
        self.n = n

    def __enter__(self) -> np.ndarray:
        self.clock._depth += 1
        return self.clock.sample_times(self.n)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.clock._depth -= 1
        if self.clock._depth == 0 and exc_type is None:
            self.clock.samples += self.n
