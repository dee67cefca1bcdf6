"""Wave-based and oscillator physical systems, each a :class:`hwsim.Device` (numpy in, numpy out).

``OpticalSystem`` (speckle through a scattering medium), ``MicrowaveCavity`` (programmable
metasurface in a reverberant cavity, coupled-dipole model), ``AcousticCavity`` (MLP fitted to a real
cavity's measurements), ``DuffingResonators`` (coupled Duffing resonators, lock-in readout) and
``CoupledOscillators`` (time-encoded drive of a nonlinear oscillator network). Build them by name
with ``hwsim.registry.create_device("optical?n_in=32")``; see ``docs/systems.md``.

This module also holds the two numerical pieces the systems share: a vectorised fixed-step RK4
integrator for second-order oscillator networks, and the calibration of a detector full scale.
The classes are imported lazily, so ``import physical.systems`` costs nothing.
"""

from __future__ import annotations

import contextlib
import importlib
from typing import Any, Callable, ContextManager

import numpy as np

from hwsim.errors import ConfigError

_CLASSES = {
    "OpticalSystem": "physical.systems.optical",
    "MicrowaveCavity": "physical.systems.microwave",
    "AcousticCavity": "physical.systems.acoustic",
    "DuffingResonators": "physical.systems.duffing",
    "CoupledOscillators": "physical.systems.oscillators",
}

__all__ = [*_CLASSES, "rk4_oscillators", "calibrate_full_scale", "noise_generator", "single_threaded_blas",
           "float_tuple"]


def __getattr__(name: str) -> Any:
    if name in _CLASSES:
        return getattr(importlib.import_module(_CLASSES[name]), name)
    raise AttributeError(f"module 'physical.systems' has no attribute '{name}'")


Accel = Callable[[float, np.ndarray, np.ndarray], np.ndarray]


def rk4_oscillators(accel: Accel, q: np.ndarray, v: np.ndarray, dt: float, n_steps: int, t0: float = 0.0,
                    observe: Callable[[int, float, np.ndarray, np.ndarray], None] | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Integrate ``q'' = accel(t, q, v)`` (any batch shape) with ``n_steps`` classic RK4 steps of ``dt``.

    ``observe(step, t, q, v)`` is called after every step (``step`` counts from 1) so a caller can
    demodulate or sample the trajectory without storing it. Returns the final ``(q, v)``.
    """
    t = t0
    half = 0.5 * dt
    for step in range(1, n_steps + 1):
        a1 = accel(t, q, v)
        q2, v2 = q + half * v, v + half * a1
        a2 = accel(t + half, q2, v2)
        q3, v3 = q + half * v2, v + half * a2
        a3 = accel(t + half, q3, v3)
        q4, v4 = q + dt * v3, v + dt * a3
        a4 = accel(t + dt, q4, v4)
        q = q + (dt / 6.0) * (v + 2.0 * v2 + 2.0 * v3 + v4)
        v = v + (dt / 6.0) * (a1 + 2.0 * a2 + 2.0 * a3 + a4)
        t = t0 + step * dt
        if observe is not None:
            observe(step, t, q, v)
    return q, v


def calibrate_full_scale(respond: Callable[[np.ndarray], np.ndarray], n_in: int,
                         input_range: tuple[float, float], seed: int, margin: float = 1.25,
                         n_samples: int = 256) -> float:
    """A detector full scale: ``margin`` times the largest ``|respond(x)|`` over a calibration batch.

    The batch is ``n_samples`` inputs drawn uniformly from ``input_range`` (seeded) plus the two
    corners (every input at the low end, every input at the high end), so the same physical
    realisation always gets the same full scale, and inputs in range rarely saturate the detector.
    """
    lo, hi = input_range
    rng = np.random.default_rng([int(seed), 0xCA1])
    x = rng.uniform(lo, hi, size=(n_samples, n_in))
    x = np.vstack([x, np.full((1, n_in), lo), np.full((1, n_in), hi)])
    peak = float(np.max(np.abs(respond(x))))
    if not np.isfinite(peak) or peak <= 0:
        raise ValueError(f"calibration found no signal (peak {peak}); check the system's parameters")
    return margin * peak


def noise_generator(seed: int, noise_seed: int | None, tag: int) -> np.random.Generator:
    """The random stream of a system's intrinsic noise: ``noise_seed`` if given, else derived from ``seed``.

    The stream advances with every measurement (repeated measurements differ, as on hardware) and
    is reproducible from construction.
    """
    return np.random.default_rng([int(seed), int(tag)] if noise_seed is None else [int(noise_seed), int(tag)])


def single_threaded_blas() -> ContextManager[Any]:
    """A context in which BLAS/LAPACK run on one thread (through threadpoolctl, when installed).

    For the many small dense solves of a system's set-up: threading them gains nothing, and on a
    machine whose cores are busy, OpenBLAS threads spin-wait on each other and run ~10x slower.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def float_tuple(value: Any, n: int, name: str) -> tuple[float, ...]:
    """``n`` floats from a sequence or from a comma-separated string (as a ``name?key=a,b`` device spec gives)."""
    items = value.split(",") if isinstance(value, str) else value
    try:
        out = tuple(float(v) for v in items)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be {n} numbers (e.g. '{','.join(['1'] * n)}'), got {value!r}") from None
    if len(out) != n:
        raise ConfigError(f"{name} must be {n} numbers, got {len(out)}: {value!r}")
    return out
