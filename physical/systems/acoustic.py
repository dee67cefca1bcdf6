"""A real nonlinear acoustic cavity, as an MLP fitted to its 10,000 measured input/output pairs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from hwsim.data import cache_dir, dataset_file
from hwsim.device import Device, DeviceInfo
from hwsim.errors import DataError
from physical.systems import noise_generator
from physical.systems.surrogate import Surrogate, fit_surrogate

#: fit of the cavity model: the reference architecture (PhyLL ``acoustic_forward_model.py``:
#: 20-100-200-100-20, SiLU), a seeded 80/10/10 split, early stopping on the validation split
FIT: dict[str, Any] = {"hidden": (100, 200, 100), "activation": "silu", "epochs": 50, "batch_size": 512,
                       "lr": 2e-3, "weight_decay": 0.0, "val_fraction": 0.1, "test_fraction": 0.1,
                       "patience": 15, "seed": 0}
FORMAT = "acoustic-mlp/1"


def load_pairs() -> tuple[np.ndarray, np.ndarray]:
    """The measured pairs ``(x, y)``, each ``(10000, 20)`` float32; row 0 of the CSVs (all zeros) is not data."""
    arrays = []
    for name in ("x_data.csv", "y_data.csv"):
        path = dataset_file("phyll_acoustic", name)
        try:
            arr = np.loadtxt(path, delimiter=",", dtype=np.float32, ndmin=2)
        except ValueError as exc:
            raise DataError(f"{path} is not a CSV of numbers ({exc}); delete it to fetch it again") from exc
        if arr.shape != (10001, 20) or np.any(arr[0] != 0):
            raise DataError(f"{path} has shape {arr.shape} (expected 10001 x 20 with a zero first row); "
                            "delete it to fetch it again")
        arrays.append(arr[1:])
    return arrays[0], arrays[1]


def cache_key(x: np.ndarray, y: np.ndarray, fit: dict[str, Any]) -> str:
    """SHA-256 (hex) of the data and the fit configuration: a new fit is made when either changes."""
    h = hashlib.sha256(FORMAT.encode())
    h.update(np.ascontiguousarray(x, dtype=np.float32).tobytes())
    h.update(np.ascontiguousarray(y, dtype=np.float32).tobytes())
    h.update(json.dumps(fit, sort_keys=True, default=list).encode())
    return h.hexdigest()


def fitted_model(refit: bool = False) -> tuple[Surrogate, Path, bool]:
    """The cavity model, loaded from the cache or fitted once and cached; returns ``(model, path, fitted_now)``."""
    x, y = load_pairs()
    path = cache_dir("phyll_acoustic") / f"acoustic-mlp-{cache_key(x, y, FIT)[:16]}.pt"
    if path.exists() and not refit:
        try:
            return Surrogate.load(path), path, False
        except DataError:
            pass  # a corrupt cache entry is replaced by a fresh fit
    # one thread: a small MLP gains nothing from more, and on a shared machine threads contend badly
    model = fit_surrogate(x, y, num_threads=1, **FIT)
    model.save(path)
    return model, path, True


class AcousticCavity(Device):
    r"""A nonlinear chaotic acoustic cavity: 20 drive amplitudes in [0, 1] -> 20 output amplitudes.

    The system is the cavity measured by Momeni et al. (Science 382, 1297, 2023; data and reference
    model: github.com/MomeniAli/PhyLL, MIT licence): 20 drive amplitudes set the excitation of a
    reverberant cavity whose nonlinear response is read as 20 amplitudes. No equation is assumed:
    the device is an MLP (20-100-200-100-20, SiLU, the reference architecture) fitted to the 10,000
    measured pairs (``hwsim.data.fetch("phyll_acoustic")``) with a seeded 8000/1000/1000
    train/validation/test split, early stopping on validation. The fit runs once and is cached
    under ``hwsim.data.cache_dir("phyll_acoustic")``, keyed by a hash of the data and the fit
    configuration; ``refit=True`` forces a new fit.

    ``metrics`` holds the fit report: RMSE and R^2 (per output and mean) on the train, validation
    and held-out test splits, and the same for a linear least-squares fit on the same training
    split. Several outputs are tiny (mean about 1e-3) and dominated by measurement noise; their R^2
    is low for both models.

    ``noise=True`` adds Gaussian noise with the per-output residual RMSE of the fit on the
    validation split (the measurement noise plus what the model misses), seeded by ``noise_seed``
    (default: from ``seed``). Inputs are clipped to [0, 1], the measured range (the model is not
    valid outside); outputs are clipped to [0, 2] (amplitudes are non-negative; the largest
    measured is 1.93).

    Not modelled: drift of the real cavity over time, and any dependence on inputs outside the
    uniform [0, 1]^20 distribution the measurements sampled.
    """

    #: time one device row takes on the hardware this system stands for, and where the figure comes from
    row_time_s = 50e-3
    row_time_source = ("assumed: an audio burst through the cavity and its recording, with the reverberation's "
                       "ring-down of tens of ms before the next row")

    def __init__(self, noise: bool = False, seed: int = 0, noise_seed: int | None = None, refit: bool = False,
                 max_batch: int = 4096) -> None:
        super().__init__()
        self.model, self.cache_path, self.fitted_now = fitted_model(refit=refit)
        self.metrics: dict[str, Any] = self.model.metrics
        self.noise = bool(noise)
        self.noise_std = np.asarray(self.metrics["val"]["rmse_per_output"], dtype=np.float64)
        self._noise = noise_generator(seed, noise_seed, 0xAC0)
        test, lin = self.metrics["test"]["r2"], self.metrics["linear"]["test"]["r2"]
        self.info = DeviceInfo(
            name="acoustic", input_shape=(20,), output_shape=(20,), input_range=(0.0, 1.0), output_range=(0.0, 2.0),
            dac_bits=None, adc_bits=None, max_batch=max_batch, serial_number=f"AC-{seed:04d}",
            description=f"MLP fitted to 10,000 measured pairs of a nonlinear acoustic cavity (PhyLL); "
                        f"held-out mean R^2 {test:.3f} (linear regression {lin:.3f})")

    def _measure(self, x: np.ndarray) -> np.ndarray:
        y = self.model.predict(np.clip(x, 0.0, 1.0)).astype(np.float64)
        if self.noise:
            y = y + self._noise.standard_normal(y.shape) * self.noise_std
        return np.clip(y, 0.0, 2.0)
