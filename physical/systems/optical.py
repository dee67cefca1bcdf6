"""Light through a multiple-scattering medium: SLM in, speckle on a camera out."""

from __future__ import annotations

import numpy as np

from hwsim.device import Device, DeviceInfo
from hwsim.errors import ConfigError
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

    Not modelled: polarisation, finite speckle grain size versus pixel size (pixels are independent
    speckle grains), spectral bandwidth and temporal decorrelation of the medium, SLM pixel
    crosstalk, camera dark current and pixel response non-uniformity.
    """

    def __init__(self, n_in: int = 64, n_out: int = 32, pool: int = 4, encoding: str = "phase",
                 detection: str = "intensity", phase_depth: float = float(np.pi), photons: float | None = None,
                 read_noise: float = 0.0, dac_bits: int | None = 8, adc_bits: int | None = 12,
                 saturation: float = 1e-4, seed: int = 0, noise_seed: int | None = None,
                 max_batch: int = 4096) -> None:
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

    def _measure(self, x: np.ndarray) -> np.ndarray:
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
