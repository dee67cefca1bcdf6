"""A programmable metasurface in a reverberant microwave cavity, by a 2-D coupled-dipole model."""

from __future__ import annotations

import numpy as np

from hwsim.device import Device, DeviceInfo
from hwsim.errors import ConfigError
from hwsim.quantise import to_codes
from physical.systems import calibrate_full_scale, float_tuple, noise_generator, single_threaded_blas

#: dipole parameters (resonance frequency, oscillator strength chi, absorption gamma) of the fixed parts
ANTENNA = (1.0, 0.5, 0.0)
WALL = (10.0, 50.0, 100.0)


def inverse_polarisability(freq: np.ndarray, f_res: np.ndarray, chi: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """Lorentzian inverse polarisability of 2-D line dipoles; rows follow ``freq``, columns the dipoles.

    ``1/alpha = ((2 pi f_res)^2 - (2 pi f)^2) / chi^2 + i (k^2 / 4 + 2 pi f gamma / chi^2)``, ``k = 2 pi f``
    (c = 1): the ``k^2/4`` term is radiation damping, which keeps a lossless dipole passive in 2-D.
    """
    w = 2 * np.pi * np.asarray(freq, dtype=np.float64)[:, None]
    wr = 2 * np.pi * np.asarray(f_res, dtype=np.float64)[None, :]
    chi2 = np.asarray(chi, dtype=np.float64)[None, :] ** 2
    return (wr ** 2 - w ** 2) / chi2 + 1j * (w ** 2 / 4 + w * np.asarray(gamma, dtype=np.float64)[None, :] / chi2)


def coupling(freq: float, pos: np.ndarray) -> np.ndarray:
    """Off-diagonal interaction ``W_ij = i k^2/4 H0^(2)(k r_ij)`` (minus the 2-D Green's function); zero diagonal."""
    from scipy.special import hankel2

    k = 2 * np.pi * float(freq)
    r = np.sqrt(((pos[:, None, :] - pos[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(r, 1.0)
    w = 1j * k ** 2 / 4 * hankel2(0, k * r)
    np.fill_diagonal(w, 0.0)
    return w


class MicrowaveCavity(Device):
    r"""Transmission ``|S21|`` through a chaotic cavity whose wall carries a 2-bit programmable metasurface.

    Input: one value in [0, 1] per meta-atom, written as a 2-bit configuration (``dac_bits=2``:
    the value is rounded to one of 4 states, codes 0..3). Output: ``|S21|`` between two antennas at
    ``n_freq`` frequencies spread over ``band``, divided by a calibrated receiver full scale and
    clipped to [0, 1].

    Model (PhysFad: Faqiri, Saigre-Tardif, Alexandropoulos, Shlezinger, Imani, del Hougne, IEEE
    Trans. Wireless Commun. 22, 2023, arXiv:2202.02673). Everything is a line dipole in 2-D, in
    units where c = 1 and the central frequency is 1 (wavelength 1): the transmitting and receiving
    antennas, ``n_in`` meta-atoms lining the walls, the walls themselves (a closed rectangle of
    closely spaced, strongly scattering dipoles, ``wall_spacing`` apart) and ``n_scatterers``
    fixed scatterers at random positions inside, which make the cavity irregular (chaotic ray
    dynamics, reverberant fields). Each dipole i has a Lorentzian inverse polarisability

        1/alpha_i(f) = ((2 pi f_i)^2 - (2 pi f)^2) / chi_i^2 + i (k^2/4 + 2 pi f gamma_i / chi_i^2),

    dipoles interact through the 2-D free-space Green's function, giving the interaction matrix
    ``W_ii = 1/alpha_i``, ``W_ij = i (k^2/4) H0^(2)(k r_ij)``, and the dipole moments excited by
    the transmitter solve ``W p = e_T``. The channel is ``H = W_RR [W^-1]_RT`` and
    ``S21 = H``, up to a constant the full scale absorbs. A meta-atom's state sets its resonance
    frequency (``state_fres``, like a varactor-tuned element), so the configuration enters ``W``
    through 1/alpha on its diagonal and the response is the inverse of a matrix: multiple
    scattering between all meta-atoms and the walls makes it nonlinear in the configuration and
    mixes all meta-atoms into every frequency.

    The environment (antennas, walls, scatterers) is fixed, so per frequency it is eliminated once
    (Schur complement onto the meta-atoms); a measurement then solves one ``n_in x n_in`` system
    per frequency and sample, batched with ``numpy.linalg.solve``. This is exact, not an
    approximation.

    Noise (off by default): ``noise`` is the standard deviation of Gaussian receiver noise added to
    the real and to the imaginary part of ``S21``, as a fraction of full scale; seeded by
    ``noise_seed`` (default: from ``seed``). Inputs outside [0, 1] are clipped to it.

    Not modelled: 3-D fields and polarisation (2-D scalar model), antenna mismatch (S11), cable and
    amplifier response, meta-atom switching transients and loss variation between states, and the
    absolute calibration of ``|S21|`` (outputs are relative to the receiver full scale).
    """

    #: time one device row takes on the hardware this system stands for, and where the figure comes from
    row_time_s = 10e-3
    row_time_source = ("assumed: PIN-diode meta-atoms switch in microseconds; a vector-network-analyser sweep over the "
                       "frequency points takes about 10 ms")

    def __init__(self, n_in: int = 32, n_freq: int = 32, band: tuple[float, float] = (0.95, 1.05),
                 size: tuple[float, float] = (8.0, 6.0), wall_spacing: float = 0.2, n_scatterers: int = 12,
                 state_fres: tuple[float, float, float, float] = (0.92, 0.97, 1.03, 1.08), atom_chi: float = 0.5,
                 atom_gamma: float = 0.0, noise: float = 0.0, seed: int = 0, noise_seed: int | None = None,
                 max_batch: int = 4096, chunk: int = 32) -> None:
        super().__init__()
        if n_in < 1 or n_freq < 1:
            raise ConfigError(f"n_in and n_freq must be >= 1, got {n_in} and {n_freq}")
        state_fres = float_tuple(state_fres, 4, "state_fres (one resonance frequency per 2-bit state)")
        band = float_tuple(band, 2, "band")
        size = float_tuple(size, 2, "size")
        if not 0 < band[0] < band[1]:
            raise ConfigError(f"band must be two increasing positive frequencies, got {band}")
        if noise < 0:
            raise ConfigError(f"noise must be >= 0, got {noise}")
        self.freqs = np.linspace(band[0], band[1], int(n_freq))
        self.noise = float(noise)
        self.chunk = max(1, int(chunk))
        rng = np.random.default_rng([int(seed), 0x3A7])
        self.positions = _layout(int(n_in), size, wall_spacing, int(n_scatterers), rng)
        n_env = len(self.positions) - n_in  # tx, rx, walls, scatterers come first
        fixed = np.array([ANTENNA, ANTENNA] + [WALL] * (n_env - 2))
        inv_env = inverse_polarisability(self.freqs, fixed[:, 0], fixed[:, 1], fixed[:, 2])
        states = np.asarray(state_fres, dtype=np.float64)
        self.state_inv_alpha = inverse_polarisability(self.freqs, states, np.full(4, atom_chi), np.full(4, atom_gamma))
        self._noise = noise_generator(seed, noise_seed, 0x3A7)
        self.full_scale = 1.0
        with single_threaded_blas():
            self._precompute(n_env, inv_env)
            self.full_scale = calibrate_full_scale(lambda x: self._transmission(x), int(n_in), (0.0, 1.0), seed)
        self.info = DeviceInfo(
            name="microwave", input_shape=(int(n_in),), output_shape=(int(n_freq),), input_range=(0.0, 1.0),
            output_range=(0.0, 1.0), dac_bits=2, adc_bits=None, max_batch=max_batch,
            serial_number=f"MW-{seed:04d}",
            description=f"|S21| at {n_freq} frequencies in {band} of a chaotic 2-D cavity with {n_in} 2-bit meta-atoms "
                        "(coupled-dipole model)")

    def _precompute(self, n_env: int, inv_env: np.ndarray) -> None:
        """Eliminate the fixed environment at every frequency (Schur complement onto the meta-atoms)."""
        n_f = len(self.freqs)
        n_m = len(self.positions) - n_env
        self.schur = np.empty((n_f, n_m, n_m), dtype=np.complex128)
        self.u = np.empty((n_f, n_m), dtype=np.complex128)
        self.v = np.empty((n_f, n_m), dtype=np.complex128)
        self.direct = np.empty(n_f, dtype=np.complex128)
        self.rx_scale = inv_env[:, 1].copy()
        for i, f in enumerate(self.freqs):
            w = coupling(f, self.positions)
            a = w[:n_env, :n_env].copy()
            a[np.diag_indices(n_env)] = inv_env[i]
            b, c, d = w[:n_env, n_env:], w[n_env:, :n_env], w[n_env:, n_env:]
            a_inv_b = np.linalg.solve(a, b)
            a_inv_t = np.linalg.solve(a, np.eye(n_env, 1, 0)[:, 0])
            a_inv_rows = np.linalg.solve(a.T, np.eye(n_env, 1, -1)[:, 0])  # row R of A^-1
            self.schur[i] = d - c @ a_inv_b
            self.u[i] = c @ a_inv_t
            self.v[i] = a_inv_rows @ b
            self.direct[i] = a_inv_t[1]

    def states(self, x: np.ndarray) -> np.ndarray:
        """The 2-bit state (0..3) each meta-atom takes for inputs ``x`` in [0, 1]."""
        return to_codes(x, (0.0, 1.0), 2).astype(np.intp)

    def _transmission(self, x: np.ndarray) -> np.ndarray:
        """Complex S21 / full scale, shape ``(B, n_freq)``."""
        codes = self.states(x)
        n_f, n_m = self.schur.shape[0], codes.shape[1]
        out = np.empty((len(codes), n_f), dtype=np.complex128)
        rhs = self.u[:, :, None]
        for start in range(0, len(codes), self.chunk):
            c = codes[start:start + self.chunk]
            s = np.empty((len(c), *self.schur.shape), dtype=np.complex128)
            s[...] = self.schur
            # add each meta-atom's 1/alpha (in its state, at each frequency) to the diagonal, in place
            s.reshape(len(c), n_f, n_m * n_m)[:, :, ::n_m + 1] += np.moveaxis(self.state_inv_alpha[:, c], 1, 0)
            z = np.linalg.solve(s, np.broadcast_to(rhs, (len(c), *rhs.shape)))[..., 0]
            out[start:start + len(c)] = self.rx_scale * (self.direct + np.einsum("fm,bfm->bf", self.v, z))
        return out / self.full_scale

    def _measure(self, x: np.ndarray) -> np.ndarray:
        s21 = self._transmission(x)
        if self.noise:
            s21 = s21 + self.noise * (self._noise.standard_normal(s21.shape)
                                      + 1j * self._noise.standard_normal(s21.shape))
        return np.clip(np.abs(s21), 0.0, 1.0)


def _layout(n_atoms: int, size: tuple[float, float], spacing: float, n_scat: int,
            rng: np.random.Generator) -> np.ndarray:
    """Dipole positions: tx, rx, wall dipoles, interior scatterers, then meta-atoms lining the walls."""
    lx, ly = float(size[0]), float(size[1])
    if min(lx, ly) < 2.0:
        raise ConfigError(f"cavity size {size} is too small; use at least 2 x 2 wavelengths")
    if not 0 < spacing <= 0.35:
        raise ConfigError(f"wall_spacing {spacing} must be in (0, 0.35] wavelengths for the wall to be closed")
    walls = _rectangle(0.0, 0.0, lx, ly, int(np.ceil(2 * (lx + ly) / spacing)), offset=0.0)
    inset = 0.3
    atoms = _rectangle(inset, inset, lx - inset, ly - inset, n_atoms, offset=rng.uniform())
    margin = 0.8
    placed: list[np.ndarray] = []
    for _ in range(10000):  # rejection sampling keeps antennas and scatterers apart
        if len(placed) == 2 + n_scat:
            break
        p = rng.uniform([margin, margin], [lx - margin, ly - margin])
        if all(np.hypot(*(p - q)) > 0.6 for q in placed):
            placed.append(p)
    else:
        raise ConfigError(f"cannot place 2 antennas and {n_scat} scatterers 0.6 wavelengths apart in a {lx} x {ly} "
                          "cavity; use fewer scatterers or a larger size")
    return np.vstack([np.array(placed[:2]), walls, np.array(placed[2:]).reshape(-1, 2), atoms])


def _rectangle(x0: float, y0: float, x1: float, y1: float, n: int, offset: float) -> np.ndarray:
    """``n`` points evenly spaced along the perimeter of a rectangle, starting ``offset`` of a step in."""
    w, h = x1 - x0, y1 - y0
    s = (np.arange(n) + offset) * (2 * (w + h) / n)
    pts = np.empty((n, 2))
    for i, d in enumerate(s):
        if d < w:
            pts[i] = (x0 + d, y0)
        elif d < w + h:
            pts[i] = (x1, y0 + d - w)
        elif d < 2 * w + h:
            pts[i] = (x1 - (d - w - h), y1)
        else:
            pts[i] = (x0, y1 - (d - 2 * w - h))
    return pts
