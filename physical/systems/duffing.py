"""Coupled nonlinear (Duffing) acoustic resonators, driven harmonically and read out by a lock-in."""

from __future__ import annotations

import numpy as np

from hwsim.device import Device, DeviceInfo
from hwsim.errors import ConfigError
from physical.systems import calibrate_full_scale, noise_generator, rk4_oscillators


class DuffingResonators(Device):
    r"""``n_resonators`` coupled Duffing resonators; inputs set drive amplitudes, outputs are lock-in amplitudes.

    Physics (dimensionless: time in units of 1/omega_0, the mean natural angular frequency):

        q_i'' + gamma q_i' + omega_i^2 q_i + beta q_i^3 - sum_j kappa_ij q_j = f_i cos(Omega t),
        f = drive * x @ P,

    a lumped model of acoustic (or nanomechanical) resonators with a hardening cubic stiffness
    (Duffing), e.g. coupled Helmholtz resonators driven by speakers: Nayfeh & Mook, *Nonlinear
    Oscillations* (1979), ch. 4; Lifshitz & Cross, "Nonlinear dynamics of nanomechanical and
    micromechanical resonators" (Rev. Nonlinear Dyn. Complexity, 2008). Natural frequencies carry
    seeded disorder ``omega_i = 1 + disorder * N(0, 1)``; the coupling ``kappa`` is a seeded random
    symmetric non-negative matrix of scale ``coupling``. Each input drives one resonator when
    ``n_in == n_resonators`` (``P`` = identity), else ``P`` is a seeded random non-negative drive
    pattern (each of ``n_in`` speakers reaches every resonator) normalised per resonator.

    Measurement: from rest, integrate ``transient_periods`` drive periods with fixed-step RK4
    (``steps_per_period`` steps per period) so transients decay (they decay as exp(-gamma t / 2)),
    then lock-in demodulate over ``lockin_periods`` periods, ``X + iY = (2/T) int q e^{-i Omega t}
    dt``, and output ``|X + iY|`` of ``n_out`` evenly spaced resonators divided by a calibrated full
    scale (clipped to [0, 1]). The drive is above the natural frequencies, so the hardening
    stiffness pulls a resonator into resonance as its amplitude grows: the amplitude rises steeply
    (a threshold-like, sigmoid response) once the drive passes a level that depends on the
    neighbours' drives through the coupling, which mixes the channels. Where the network is
    bistable a measurement starts from rest and so follows one branch deterministically. Near a
    jump (saddle-node) the approach to steady state is slow, so there the reading depends on the
    settling time, as it does on hardware: with the defaults, readings after 20 settling periods
    differ from readings after 60 by 0.2% of full scale on average, by more than 1% for about 5%
    of the readings, and by up to 13% for the rare input right at a jump.

    Noise (off by default): ``noise`` adds Gaussian lock-in noise, standard deviation as a fraction
    of full scale, to X and Y; seeded by ``noise_seed`` (default: from ``seed``).

    Not modelled: thermal (Langevin) force noise, nonlinear damping, higher harmonics in the
    readout (the lock-in rejects them), spatial extent of the resonators.
    """

    #: time one device row takes on the hardware this system stands for, and where the figure comes from
    row_time_s = 10e-3
    row_time_source = ("assumed: MEMS resonators ring up in Q/(pi f) (a few ms at f ~ 100 kHz, Q ~ 1000) and a lock-in "
                       "averages a few time constants")

    def __init__(self, n_resonators: int = 16, n_in: int | None = None, n_out: int | None = None,
                 drive: float = 0.8, drive_freq: float = 1.25, gamma: float = 0.3, beta: float = 1.0,
                 coupling: float = 0.1, disorder: float = 0.05, transient_periods: int = 20,
                 lockin_periods: int = 4, steps_per_period: int = 24, noise: float = 0.0, seed: int = 0,
                 noise_seed: int | None = None, max_batch: int = 4096) -> None:
        super().__init__()
        n = int(n_resonators)
        n_in = n if n_in is None else int(n_in)
        n_out = n if n_out is None else int(n_out)
        if n < 1 or not 1 <= n_out <= n or n_in < 1:
            raise ConfigError(f"need n_resonators >= 1, 1 <= n_out <= n_resonators and n_in >= 1; "
                              f"got {n}, {n_out}, {n_in}")
        if min(transient_periods, lockin_periods) < 1 or steps_per_period < 8:
            raise ConfigError("transient_periods and lockin_periods must be >= 1 and steps_per_period >= 8")
        if gamma <= 0 or drive <= 0 or drive_freq <= 0 or noise < 0:
            raise ConfigError("gamma, drive and drive_freq must be positive and noise >= 0")
        rng = np.random.default_rng([int(seed), 0xD0F])
        self.omega2 = (1.0 + disorder * rng.standard_normal(n)) ** 2
        k = np.triu(np.abs(rng.standard_normal((n, n))), 1) * (coupling / np.sqrt(n))
        k = k + k.T
        # stiffness matrix: omega_i^2 on the diagonal, -kappa_ij off it (coupling through a shared medium)
        self.stiffness = np.diag(self.omega2) - k
        if np.linalg.eigvalsh(self.stiffness).min() <= 0:
            raise ConfigError(f"coupling={coupling} is too strong for the natural frequencies (the linear system "
                              "is unstable); lower coupling or disorder")
        if n_in == n:
            self.pattern = np.eye(n)
        else:
            p = np.abs(rng.standard_normal((n_in, n)))
            self.pattern = p / p.sum(0, keepdims=True)
        self.readout = np.unique(np.linspace(0, n - 1, n_out).round().astype(int))
        self.drive, self.drive_freq, self.gamma, self.beta = float(drive), float(drive_freq), float(gamma), float(beta)
        self.transient_periods, self.lockin_periods = int(transient_periods), int(lockin_periods)
        self.steps_per_period = int(steps_per_period)
        self.noise = float(noise)
        self._noise = noise_generator(seed, noise_seed, 0xD0F)
        self.full_scale = 1.0
        self.full_scale = calibrate_full_scale(lambda x: np.abs(self._lockin(x)), n_in, (0.0, 1.0), seed)
        self.info = DeviceInfo(
            name="duffing", input_shape=(n_in,), output_shape=(len(self.readout),), input_range=(0.0, 1.0),
            output_range=(0.0, 1.0), dac_bits=None, adc_bits=None, max_batch=max_batch,
            serial_number=f"DUF-{seed:04d}",
            description=f"{n} coupled Duffing resonators driven at {drive_freq} (x natural), lock-in amplitudes")

    def _lockin(self, x: np.ndarray) -> np.ndarray:
        """Complex lock-in output ``X + iY`` (divided by the full scale) of the readout resonators."""
        force = self.drive * np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0) @ self.pattern
        w = self.drive_freq
        period = 2 * np.pi / w
        dt = period / self.steps_per_period
        stiff, gamma, beta = self.stiffness, self.gamma, self.beta

        def accel(t: float, q: np.ndarray, v: np.ndarray) -> np.ndarray:
            return force * np.cos(w * t) - gamma * v - q @ stiff - beta * q * q * q

        q, v = rk4_oscillators(accel, np.zeros_like(force), np.zeros_like(force), dt,
                               self.transient_periods * self.steps_per_period)
        t0 = self.transient_periods * period
        acc = np.zeros(force.shape, dtype=np.complex128)

        def demodulate(step: int, t: float, qs: np.ndarray, vs: np.ndarray) -> None:
            np.add(acc, qs * np.exp(-1j * w * t), out=acc)

        n_lock = self.lockin_periods * self.steps_per_period
        rk4_oscillators(accel, q, v, dt, n_lock, t0=t0, observe=demodulate)
        return (2.0 / n_lock) * acc[:, self.readout] / self.full_scale

    def _measure(self, x: np.ndarray) -> np.ndarray:
        z = self._lockin(x)
        if self.noise:
            z = z + self.noise * (self._noise.standard_normal(z.shape) + 1j * self._noise.standard_normal(z.shape))
        return np.clip(np.abs(z), 0.0, 1.0)
