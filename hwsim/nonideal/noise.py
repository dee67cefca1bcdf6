"""Read noise, shot-like signal-dependent noise and per-sample gain jitter on the device output."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from hwsim.device import Device
from hwsim.nonideal.base import NonIdealWrapper, check_nonneg, full_scale, rng_state, seeded_rng, set_rng_state


class Noise(NonIdealWrapper):
    """``y' = y * (1 + jitter * u) + sqrt((read * FS)**2 + shot**2 * FS * |y (1 + jitter * u)|) * z``.

    ``FS`` is the output full-scale span ``hi - lo`` of ``info.output_range``.

    * ``read``: additive Gaussian read noise, std as a fraction of ``FS``, independent per channel and sample.
    * ``shot``: shot-like noise whose variance grows linearly with the signal: its std is ``shot * FS``
      at a signal of ``|y| = FS`` (0 disables it).
    * ``jitter``: gain jitter, std of a multiplicative factor drawn **per sample** and common to all
      channels of that sample (a source-power fluctuation per shot). Per sample rather than per call,
      so splitting a batch over several calls cannot change it.

    Randomness is drawn in sample order from the wrapper's own RNG (``seed``), one row per sample,
    so the same seed and inputs give the same outputs however the batch is split into calls.
    """

    def __init__(self, inner: Device, read: float = 0.0, shot: float = 0.0, jitter: float = 0.0,
                 seed: int = 0) -> None:
        super().__init__(inner)
        self.read = check_nonneg("read noise", read, "fraction of output full scale")
        self.shot = check_nonneg("shot noise", shot, "fraction of output full scale at full-scale signal")
        self.jitter = check_nonneg("gain jitter", jitter, "std of the per-sample gain factor")
        self.seed = seed
        self.rng = seeded_rng(seed, "noise")
        self.fs = full_scale(self.info.output_range)

    def _measure(self, x: np.ndarray) -> np.ndarray:
        y = self.inner.measure(x).reshape(x.shape[0], -1).astype(np.float64)
        n, c = y.shape
        has_jitter = self.jitter > 0
        z = self.rng.standard_normal((n, c + int(has_jitter)))
        if has_jitter:
            y = y * (1.0 + self.jitter * z[:, :1])
            z = z[:, 1:]
        var = (self.read * self.fs) ** 2 + (self.shot ** 2) * self.fs * np.abs(y)
        out = y + np.sqrt(var) * z
        return out.reshape((n, *self.info.output_shape)).astype(np.float32)

    def _state(self) -> dict[str, Any]:
        return {"rng": rng_state(self.rng)}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        set_rng_state(self.rng, state["rng"])

    def __repr__(self) -> str:
        return f"<Noise read={self.read} shot={self.shot} jitter={self.jitter} of {self.inner!r}>"
