"""A chain of coupled nonlinear oscillators driven by a time-encoded input and sampled in time."""

from __future__ import annotations

import numpy as np

from hwsim.device import Device, DeviceInfo
from hwsim.errors import ConfigError
from physical.systems import calibrate_full_scale, noise_generator, rk4_oscillators


class CoupledOscillators(Device):
    r"""Coupled nonlinear oscillators as a physical layer: input -> drive waveform -> sampled response.

    Physics (dimensionless: time in units of 1/omega_0): a chain of ``n_oscillators`` damped
    pendula (``nonlinearity="sine"``) or Duffing oscillators (``"cubic"``) with nearest-neighbour
    springs,

        q_i'' + gamma q_i' + omega_i^2 g(q_i) + kappa_{i-1} (q_i - q_{i-1}) + kappa_i (q_i - q_{i+1})
            = delta_{i0} F(t),      g(q) = sin q  or  q + beta q^3,

    with seeded disorder ``omega_i = 1 + disorder * N(0, 1)`` and ``kappa_i = coupling * (1 +
    disorder * N(0, 1))``. It stands for the driven mechanical and electronic oscillators of
    physics-aware training (Wright et al., "Deep physical neural networks trained with
    backpropagation", Nature 601, 549, 2022): a multimode mechanical plate driven by a speaker,
    and a nonlinear analog circuit. Coupled pendula: e.g. Braun & Kivshar, *The Frenkel-Kontorova
    Model* (2004).

    Encoding. ``encoding="drive"`` (default): the inputs, in [-1, 1], are played one after another
    as a piecewise-constant force ``F(t) = drive * x_k`` on the first oscillator, each for
    ``slot_time``; the recording lasts ``record_time`` (default 1.5 x the drive) so the chain rings
    on. ``encoding="initial"``: the inputs are the initial angles ``q_i(0) = amplitude * x_i`` of
    all ``n_oscillators`` (``n_in`` must equal it), released at rest with no drive. Either way the
    outputs are ``n_out`` samples of the last oscillator's displacement (for pendula the bob's
    horizontal displacement ``sin q``, what a position sensor beside it reads) at evenly spaced
    times in ``(record_start, record_time]`` (default start: half-way through the drive, so every
    sample has heard most inputs; 0 for initial conditions), divided by a calibrated full scale and
    clipped to [-1, 1]. Integration is fixed-step RK4, ``steps_per_slot`` steps per ``slot_time``,
    vectorised over the batch.

    The sine (or cubic) restoring force makes the map from input to samples nonlinear; the chain's
    memory makes every late sample depend on every earlier input (and, with initial-condition
    encoding, on every oscillator).

    Noise (off by default): ``noise`` is Gaussian detector noise, standard deviation as a fraction
    of full scale, seeded by ``noise_seed`` (default: from ``seed``).

    Not modelled: thermal force noise, the transfer function of the actuator and the sensor,
    continuous (plate) rather than lumped modes.
    """

    #: time one device row takes on the hardware this system stands for, and where the figure comes from
    row_time_s = 1e-3
    row_time_source = ("assumed: an electronic oscillator network driven and sampled over about a millisecond window")

    def __init__(self, n_in: int = 16, n_out: int = 16, n_oscillators: int = 8, encoding: str = "drive",
                 nonlinearity: str = "sine", drive: float = 0.7, amplitude: float = 2.5, beta: float = 1.0,
                 gamma: float = 0.1, coupling: float = 0.5, disorder: float = 0.1, slot_time: float = float(np.pi),
                 record_time: float | None = None, record_start: float | None = None, steps_per_slot: int = 8,
                 noise: float = 0.0, seed: int = 0,
                 noise_seed: int | None = None, max_batch: int = 4096) -> None:
        super().__init__()
        if encoding not in ("drive", "initial"):
            raise ConfigError(f"encoding must be 'drive' or 'initial', got '{encoding}'")
        if nonlinearity not in ("sine", "cubic"):
            raise ConfigError(f"nonlinearity must be 'sine' or 'cubic', got '{nonlinearity}'")
        if n_oscillators < 2 or n_in < 1 or n_out < 1:
            raise ConfigError(f"need n_oscillators >= 2, n_in >= 1, n_out >= 1; got {n_oscillators}, {n_in}, {n_out}")
        if encoding == "initial" and n_in != n_oscillators:
            raise ConfigError(f"initial-condition encoding sets one angle per oscillator: n_in ({n_in}) must equal "
                              f"n_oscillators ({n_oscillators})")
        if slot_time <= 0 or steps_per_slot < 2 or gamma < 0 or noise < 0:
            raise ConfigError("slot_time must be > 0, steps_per_slot >= 2, gamma >= 0 and noise >= 0")
        rng = np.random.default_rng([int(seed), 0x05C])
        n = int(n_oscillators)
        self.omega2 = (1.0 + disorder * rng.standard_normal(n)) ** 2
        springs = coupling * (1.0 + disorder * rng.standard_normal(n - 1))
        lap = np.zeros((n, n))
        for i, k in enumerate(springs):
            lap[[i, i + 1], [i, i + 1]] += k
            lap[i, i + 1] -= k
            lap[i + 1, i] -= k
        self.laplacian = lap
        self.encoding, self.nonlinearity = encoding, nonlinearity
        self.drive, self.amplitude, self.beta, self.gamma = float(drive), float(amplitude), float(beta), float(gamma)
        self.slot_time, self.steps_per_slot = float(slot_time), int(steps_per_slot)
        self.dt = self.slot_time / self.steps_per_slot
        if record_time is None:
            record_time = 1.5 * n_in * slot_time if encoding == "drive" else 8.0 * slot_time
        if record_start is None:
            record_start = 0.5 * n_in * slot_time if encoding == "drive" else 0.0
        if not 0 <= record_start < record_time:
            raise ConfigError(f"record_start ({record_start}) must be in [0, record_time={record_time})")
        self.record_time, self.record_start = float(record_time), float(record_start)
        first, last = self.record_start / self.dt, self.record_time / self.dt
        times = first + np.arange(1, n_out + 1) * (last - first) / n_out  # in steps
        self.sample_steps = np.maximum(1, np.round(times)).astype(int)
        if len(np.unique(self.sample_steps)) != n_out:
            raise ConfigError(f"{n_out} samples do not fit in {int(round(last - first))} integration steps; raise "
                              "steps_per_slot or record_time, or lower n_out")
        self.n_osc = n
        self.noise = float(noise)
        self._noise = noise_generator(seed, noise_seed, 0x05C)
        self.full_scale = 1.0
        self.full_scale = calibrate_full_scale(self._response, int(n_in), (-1.0, 1.0), seed)
        self.info = DeviceInfo(
            name="oscillators", input_shape=(int(n_in),), output_shape=(int(n_out),), input_range=(-1.0, 1.0),
            output_range=(-1.0, 1.0), dac_bits=None, adc_bits=None, max_batch=max_batch,
            serial_number=f"OSC-{seed:04d}",
            description=f"chain of {n} coupled {'pendula' if nonlinearity == 'sine' else 'Duffing oscillators'}, "
                        f"{encoding} encoding, {n_out} samples of the last oscillator")

    def _response(self, x: np.ndarray) -> np.ndarray:
        """Samples of the last oscillator's displacement (divided by the full scale), shape ``(B, n_out)``."""
        x = np.clip(np.asarray(x, dtype=np.float64), -1.0, 1.0)
        b = len(x)
        q = np.zeros((b, self.n_osc))
        force = np.zeros((b, self.n_osc))
        if self.encoding == "initial":
            q = self.amplitude * x
        else:
            force[:, 0] = self.drive * x[:, 0]
        omega2, lap, gamma, beta = self.omega2, self.laplacian, self.gamma, self.beta
        sine = self.nonlinearity == "sine"

        def accel(t: float, qs: np.ndarray, vs: np.ndarray) -> np.ndarray:
            restoring = np.sin(qs) if sine else qs + beta * qs * qs * qs
            return force - gamma * vs - omega2 * restoring - qs @ lap

        samples = np.empty((b, len(self.sample_steps)))
        wanted = {int(s): i for i, s in enumerate(self.sample_steps)}
        n_slots = x.shape[1]

        def observe(step: int, t: float, qs: np.ndarray, vs: np.ndarray) -> None:
            if step in wanted:
                samples[:, wanted[step]] = np.sin(qs[:, -1]) if sine else qs[:, -1]
            if self.encoding == "drive" and step % self.steps_per_slot == 0:
                slot = step // self.steps_per_slot  # the force is constant over whole steps: exact slot edges
                force[:, 0] = self.drive * x[:, slot] if slot < n_slots else 0.0

        rk4_oscillators(accel, q, np.zeros((b, self.n_osc)), self.dt, int(self.sample_steps.max()), observe=observe)
        return samples / self.full_scale

    def _measure(self, x: np.ndarray) -> np.ndarray:
        y = self._response(x)
        if self.noise:
            y = y + self.noise * self._noise.standard_normal(y.shape)
        return np.clip(y, -1.0, 1.0)
