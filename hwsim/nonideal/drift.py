"""Slow drift of each output channel's gain and offset: Ornstein-Uhlenbeck processes on the simulated clock."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from hwsim.device import Device
from hwsim.errors import ConfigError
from hwsim.nonideal.base import NonIdealWrapper, check_nonneg, full_scale, rng_state, seeded_rng, set_rng_state
from hwsim.nonideal.clock import SimClock


def _ou_steps(state: np.ndarray, rho: float, z: np.ndarray) -> np.ndarray:
    """Rows ``s_k = rho * s_{k-1} + z_k`` from ``s_0 = state`` (``z`` is overwritten with them), one sample at
    a time with the same float operations for every sample, so any split of the batch gives bit-identical
    results."""
    prev = state
    for row in z:  # each row is a view into z
        row += rho * prev
        prev = row
    return z


class Drift(NonIdealWrapper):
    """``y'_c(t) = (1 + a_c(t)) * y_c + b_c(t) * FS`` with ``a_c``, ``b_c`` independent OU processes.

    Each process starts at 0 (the device was calibrated at ``t = 0``) and follows
    ``da = -a / tau dt + sigma * sqrt(2 / tau) dW``: stationary std ``sigma`` (``gain_std`` for ``a``,
    dimensionless; ``offset_std`` for ``b``, a fraction of the output full-scale span ``FS``),
    correlation time ``tau`` seconds. It is stepped exactly (no discretisation error) once per sample
    on the clock's measurement time, so between consecutive samples
    ``a_k = rho * a_{k-1} + sigma * sqrt(1 - rho**2) * z_k`` with ``rho = exp(-sample_time / tau)``,
    and ``Var a(t) = sigma**2 * (1 - exp(-2 t / tau))``. Sample ``k`` sees ``a_k``.
    """

    def __init__(self, inner: Device, gain_std: float = 0.0, offset_std: float = 0.0, tau: float = 600.0,
                 clock: SimClock | None = None, seed: int = 0) -> None:
        super().__init__(inner)
        self.gain_std = check_nonneg("drift gain_std", gain_std, "stationary std of the relative gain")
        self.offset_std = check_nonneg("drift offset_std", offset_std, "stationary std, fraction of output full scale")
        self.tau = float(tau)
        if not self.tau > 0:
            raise ConfigError(f"drift tau must be a positive time in seconds, got {tau!r}")
        self.clock = clock if clock is not None else SimClock()
        self.seed = seed
        self.rng = seeded_rng(seed, "drift")
        self.fs = full_scale(self.info.output_range)
        c = self.info.output_size
        self._a = np.zeros(c)  # relative gain deviation per channel
        self._b = np.zeros(c)  # offset per channel, fraction of full scale

    @property
    def rho(self) -> float:
        """Correlation of the process between consecutive samples."""
        return float(np.exp(-self.clock.sample_time / self.tau))

    @property
    def gain(self) -> np.ndarray:
        """Current per-channel gain factor ``1 + a`` (after the last measured sample)."""
        return 1.0 + self._a.copy()

    @property
    def offset(self) -> np.ndarray:
        """Current per-channel offset in output units (``b * FS``)."""
        return self._b * self.fs

    def _measure(self, x: np.ndarray) -> np.ndarray:
        n = x.shape[0]
        with self.clock.acquire(n):
            y = self.inner.measure(x).reshape(n, -1).astype(np.float64)
            c = y.shape[1]
            rho = self.rho
            step_std = np.sqrt(-np.expm1(-2.0 * self.clock.sample_time / self.tau))  # sqrt(1 - rho**2)
            scale = step_std * np.array([self.gain_std] * c + [self.offset_std] * c)
            z = self.rng.standard_normal((n, 2 * c)) * scale
            prev = np.concatenate([self._a, self._b])
            path = _ou_steps(prev, rho, z)
            a, b = path[:, :c], path[:, c:]
            self._a, self._b = a[-1].copy(), b[-1].copy()
            out = (1.0 + a) * y + b * self.fs
        return out.reshape((n, *self.info.output_shape)).astype(np.float32)

    def _state(self) -> dict[str, Any]:
        return {"rng": rng_state(self.rng), "a": self._a.tolist(), "b": self._b.tolist(),
                "clock": self.clock.state_dict()}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        set_rng_state(self.rng, state["rng"])
        self._a = np.asarray(state["a"], dtype=np.float64)
        self._b = np.asarray(state["b"], dtype=np.float64)
        self.clock.load_state_dict(state["clock"])

    def __repr__(self) -> str:
        return f"<Drift gain_std={self.gain_std} offset_std={self.offset_std} tau={self.tau}s of {self.inner!r}>"
