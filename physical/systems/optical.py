"""Light through a multiple-scattering medium: SLM in, speckle on a camera out."""

from __future__ import annotations

import numpy as np

from typing import Any, Mapping

from hwsim.device import Device, DeviceInfo
from hwsim.errors import ConfigError
from hwsim.nonideal.base import rng_state, set_rng_state
from hwsim.nonideal.clock import SimClock
from hwsim.quantise import quantise
from physical.systems import noise_generator


class OpticalSystem(Device):
    r"""A spatial light modulator (SLM) illuminating a scattering medium, imaged by a camera.

    Physics. A monochromatic field leaves the SLM with one complex amplitude per pixel,
    ``E_in,j = exp(i * phase_depth * x_j)`` (``encoding="phase"``) or ``E_in,j = x_j``
    (``encoding="amplitude"``), ``x_j`` in [0, 1] quantised to ``dac_bits`` grey levels. A thick
    multiple-scattering medium (paint layer, diffuser, multimode fibre) maps it linearly to the
    camera plane, ``E_out = T E_in``, with a transmission matrix whose entries are i.i.d. circular
    complex Gaussian, ``T_kj ~ CN(0, 1/n_in)`` (random-matrix model of a diffusive medium; Popoff et
    al., PRL 104, 100601, 2010). The camera measures the intensity ``|E_out,k|^2``; ``pool``
    adjacent pixels (speckle grains) are binned (averaged) into one output, ``n_out`` outputs in
    all. ``detection="amplitude"`` reports the square root of the binned intensity (the field
    modulus, as holographic detection gives; exactly ``|E_out,k|`` when ``pool=1``).

    The square modulus makes the map nonlinear in ``x`` (with phase encoding, the output is a sum
    of cosines of input differences) and ``T`` mixes every input into every output: the random
    optical feature map of photonic extreme learning machines (Saade et al., ICASSP 2016;
    Pierangeli et al., PRL 126, 177401, 2021) and of physical local learning (Momeni et al.,
    Science 382, 1297, 2023).

    Scale. ``T`` is normalised so a pixel's mean intensity over the disorder is 1 when every SLM
    pixel is at full amplitude; a bin of ``pool`` pixels then follows a Gamma(pool, 1/pool) law,
    and the camera full scale is set where that law exceeds it with probability ``saturation``
    (default 1e-4). Outputs are the binned value divided by the full scale, clipped to [0, 1]
    (saturation; the square root of that with amplitude detection) and quantised to ``adc_bits``.

    Noise (off by default). ``photons``: mean photoelectrons of one output at full scale; the
    count is Poisson (shot noise). ``read_noise``: Gaussian read noise, standard deviation as a
    fraction of full scale. The noise stream is seeded by ``noise_seed`` (default: from ``seed``).

    Decorrelation of the medium (off by default). A real medium changes slowly (temperature,
    mechanical creep, a fibre's bending), so its speckle decorrelates. With
    ``decorrelation_time=tau`` (s) the transmission matrix follows an Ornstein-Uhlenbeck process on the
    simulated clock, refreshed every ``decorrelation_step`` seconds:
    ``T <- sqrt(1 - e) T + sqrt(e) N``, ``e = 1 - exp(-2 step / tau)``, ``N`` a fresh draw of the same
    law as ``T`` (seeded): ``T`` keeps its statistics and the field correlation between times ``0``
    and ``t`` is ``exp(-t / tau)`` (:meth:`medium_correlation`). The clock is the profile's
    :class:`hwsim.nonideal.SimClock` when a profile attaches one (:meth:`set_decorrelation`), else the
    system's own, advancing ``row_time`` seconds per measured row. Rows are assigned to steps by
    their acquisition time, so how a batch is split into calls changes nothing.

    Not modelled: polarisation, finite speckle grain size versus pixel size (pixels are independent
    speckle grains), spectral bandwidth, SLM pixel crosstalk, camera dark current and pixel response
    non-uniformity.
    """

    #: time one device row takes on the hardware this system stands for, and where the figure comes from
    row_time_s = 5e-3
    row_time_source = ("assumed: a liquid-crystal phase SLM settles in about 2-17 ms (60-500 Hz frame rates) and the "
                       "camera exposes in lock-step; 5 ms per frame is an optimistic lab figure")

    def __init__(self, n_in: int = 64, n_out: int = 32, pool: int = 4, encoding: str = "phase",
                 detection: str = "intensity", phase_depth: float = float(np.pi), photons: float | None = None,
                 read_noise: float = 0.0, dac_bits: int | None = 8, adc_bits: int | None = 12,
                 saturation: float = 1e-4, seed: int = 0, noise_seed: int | None = None,
                 decorrelation_time: float | None = None, decorrelation_step: float = 1.0,
                 row_time: float | None = None, max_batch: int = 4096) -> None:
        super().__init__()
        if encoding not in ("phase", "amplitude"):
            raise ConfigError(f"encoding must be 'phase' or 'amplitude', got '{encoding}'")
        if detection not in ("intensity", "amplitude"):
            raise ConfigError(f"detection must be 'intensity' or 'amplitude', got '{detection}'")
        if min(n_in, n_out, pool) < 1:
            raise ConfigError(f"n_in, n_out and pool must be >= 1, got {n_in}, {n_out}, {pool}")
        if photons is not None and photons <= 0:
            raise ConfigError(f"photons must be positive (photoelectrons at full scale), got {photons}")
        if read_noise < 0 or not 0 < saturation < 1:
            raise ConfigError("read_noise must be >= 0 and saturation a probability in (0, 1)")
        from scipy.special import gammainccinv

        self.encoding, self.detection = encoding, detection
        self.phase_depth = float(phase_depth)
        self.pool = int(pool)
        self.photons = photons
        self.read_noise = float(read_noise)
        rng = np.random.default_rng([int(seed), 0x0F7])
        shape = (int(n_in), int(n_out) * self.pool)
        self.transmission = ((rng.standard_normal(shape) + 1j * rng.standard_normal(shape))
                             / np.sqrt(2.0 * n_in)).astype(np.complex128)
        # upper `saturation` quantile of Gamma(pool, 1/pool), the law of the mean of `pool` unit exponentials
        self.full_scale = float(gammainccinv(self.pool, saturation) / self.pool)
        self._noise = noise_generator(seed, noise_seed, 0x0F7)
        self._initial = self.transmission
        self._seed = int(seed)
        self._medium_rng = np.random.default_rng([self._seed, 0xDEC])
        self._medium_step = 0
        self.decorrelation_time: float | None = None
        self.decorrelation_step = float(decorrelation_step)
        self.clock: SimClock | None = None
        self._clock_owned = False  # True: the system keeps (and checkpoints) its own clock
        if decorrelation_time is not None:
            self.set_decorrelation(decorrelation_time, SimClock(row_time if row_time else self.row_time_s),
                                   decorrelation_step)
            self._clock_owned = True
        self.info = DeviceInfo(
            name="optical", input_shape=(int(n_in),), output_shape=(int(n_out),), input_range=(0.0, 1.0),
            output_range=(0.0, 1.0), dac_bits=dac_bits, adc_bits=adc_bits, max_batch=max_batch,
            serial_number=f"OPT-{seed:04d}",
            description=f"SLM ({encoding}) -> random transmission matrix -> camera ({detection}), "
                        f"{self.pool} pixels per output")

    def field(self, x: np.ndarray) -> np.ndarray:
        """Complex camera-plane field (one entry per camera pixel) for a batch of SLM settings."""
        x = quantise(np.clip(x, 0.0, 1.0), (0.0, 1.0), self.info.dac_bits).astype(np.float64)
        e_in = np.exp(1j * self.phase_depth * x) if self.encoding == "phase" else x.astype(np.complex128)
        return e_in @ self.transmission

    def set_decorrelation(self, tau: float, clock: SimClock, step: float | None = None, seed: int | None = None
                          ) -> None:
        """Let the medium decorrelate with field correlation time ``tau`` (s) on ``clock`` (see the class);
        ``seed`` (e.g. a profile's) picks the stream of the medium's changes (default: the system's seed)."""
        if not np.isfinite(tau) or tau <= 0:
            raise ConfigError(f"decorrelation_time must be a positive number of seconds, got {tau!r}")
        step = self.decorrelation_step if step is None else float(step)
        if not np.isfinite(step) or step <= 0:
            raise ConfigError(f"decorrelation_step must be a positive number of seconds, got {step!r}")
        self.decorrelation_time, self.decorrelation_step, self.clock = float(tau), step, clock
        self._clock_owned = False
        if seed is not None:
            self._medium_rng = np.random.default_rng([self._seed, 0xDEC, int(seed)])

    def medium_correlation(self) -> float:
        """``|<T_0, T>| / (|T_0| |T|)``: how much of the initial medium is left (1: unchanged)."""
        a, b = self._initial.ravel(), self.transmission.ravel()
        return float(abs(np.vdot(a, b)) / (np.linalg.norm(a) * np.linalg.norm(b)))

    def _advance_medium(self, step: int) -> None:
        """Step the transmission matrix forward to decorrelation step ``step``."""
        if self._medium_step >= step:
            return
        rho = float(np.exp(-self.decorrelation_step / self.decorrelation_time))
        kick = float(np.sqrt(-np.expm1(-2.0 * self.decorrelation_step / self.decorrelation_time)))
        shape = self.transmission.shape
        scale = kick / np.sqrt(2.0 * shape[0])
        t = self.transmission
        for _ in range(step - self._medium_step):
            fresh = self._medium_rng.standard_normal(shape) + 1j * self._medium_rng.standard_normal(shape)
            t = rho * t + scale * fresh
        self.transmission = t  # a new array: a saved state keeps referring to the old one
        self._medium_step = step

    def _measure(self, x: np.ndarray) -> np.ndarray:
        if self.decorrelation_time is None or self.clock is None:
            return self._detect(x)
        with self.clock.acquire(len(x)) as times:
            steps = np.floor(times / self.decorrelation_step + 1e-9).astype(np.int64)
            parts = []
            for k in np.unique(steps):  # times increase, so each step's rows are contiguous
                self._advance_medium(int(k))
                parts.append(self._detect(x[steps == k]))
            return np.concatenate(parts)

    def state_dict(self) -> dict[str, Any]:
        """The noise stream, the current medium and, with its own clock, the clock (arrays by reference)."""
        state: dict[str, Any] = {"noise": rng_state(self._noise), "medium": self.transmission,
                                 "medium_step": self._medium_step, "medium_rng": rng_state(self._medium_rng)}
        if self.clock is not None and self._clock_owned:
            state["clock"] = self.clock.state_dict()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` into a system built with the same options."""
        if "medium" not in state:
            raise ConfigError("this state was not saved from an optical system; rebuild the device as it was saved")
        medium = np.asarray(state["medium"])
        if medium.shape != self.transmission.shape:
            raise ConfigError(f"saved medium has shape {medium.shape}, this system {self.transmission.shape}: "
                              "rebuild it with the same n_in, n_out and pool")
        set_rng_state(self._noise, state["noise"])
        set_rng_state(self._medium_rng, state["medium_rng"])
        self.transmission = medium
        self._medium_step = int(state["medium_step"])
        if "clock" in state and self.clock is not None:
            self.clock.load_state_dict(state["clock"])

    def _detect(self, x: np.ndarray) -> np.ndarray:
        e_out = self.field(x)
        intensity = e_out.real ** 2 + e_out.imag ** 2
        signal = intensity.reshape(len(x), -1, self.pool).mean(axis=2) / self.full_scale
        if self.photons is not None:
            signal = self._noise.poisson(np.clip(signal, 0.0, None) * self.photons) / self.photons
        if self.detection == "amplitude":
            signal = np.sqrt(signal)
        if self.read_noise:
            signal = signal + self._noise.normal(0.0, self.read_noise, size=signal.shape)
        return quantise(np.clip(signal, 0.0, 1.0), (0.0, 1.0), self.info.adc_bits)
