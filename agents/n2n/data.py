"""The data sets N2N teachers and students are trained on, as train / validation / test tensors.

* ``digits``: scikit-learn's 8x8 handwritten digits, images ``(N, 1, 8, 8)`` (:func:`edge.digits.digits_split`);
* ``mnist1d``: MNIST-1D (Greydanus 2020) generated with the package's default arguments, signals
  ``(N, 1, 40)``; its 4000 training signals are split into train and validation by ``seed``, its
  1000 test signals are the test set; standardised with the training mean and deviation.

Both come back as an :class:`edge.digits.DigitsSplit` (a plain container of the six tensors), so
the edge training loop trains on either.
"""

from __future__ import annotations

import numpy as np
import torch

from edge.digits import DigitsSplit, digits_split
from hwsim.errors import ConfigError
from hwsim.mnist1d import mnist1d_arrays

DATASETS = ("digits", "mnist1d")


def load_split(dataset: str, seed: int = 0) -> DigitsSplit:
    """Train / validation / test tensors of ``dataset`` (``digits`` or ``mnist1d``) split by ``seed``."""
    if dataset == "digits":
        return digits_split(seed)
    if dataset == "mnist1d":
        return _mnist1d_split(seed)
    raise ConfigError(f"unknown data set '{dataset}'; known: {', '.join(DATASETS)}")


def _mnist1d_split(seed: int, val_fraction: float = 0.15) -> DigitsSplit:
    arrays = mnist1d_arrays()
    x, y = arrays["x"].astype(np.float32), arrays["y"].astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = int(round(val_fraction * len(x)))
    val, train = order[:n_val], order[n_val:]
    mean, std = float(x[train].mean()), float(x[train].std()) or 1.0

    def signals(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(((a - mean) / std).astype(np.float32)[:, None, :])

    return DigitsSplit(signals(x[train]), torch.from_numpy(y[train]), signals(x[val]), torch.from_numpy(y[val]),
                       signals(arrays["x_test"].astype(np.float32)),
                       torch.from_numpy(arrays["y_test"].astype(np.int64)),
                       seed)
