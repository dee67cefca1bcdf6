"""scikit-learn's 8x8 handwritten digits as standardised train / validation / test tensors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hwsim.errors import ConfigError


@dataclass(frozen=True)
class DigitsSplit:
    """Images shaped (N, 1, 8, 8) float32, labels int64 0..9; standardised with the training set's statistics."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    seed: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one image, without the batch dimension."""
        return tuple(self.x_train.shape[1:])


def digits_split(seed: int = 0, test_fraction: float = 0.3, val_fraction: float = 0.15) -> DigitsSplit:
    """Stratified split of the 1797 digits by ``seed``: test, then validation out of the rest.

    Each pixel is standardised with the training mean and standard deviation (floored at one
    grey level, so always-blank border pixels stay at zero instead of exploding).
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not (0 < test_fraction < 1 and 0 <= val_fraction < 1):
        raise ConfigError(f"test_fraction must be in (0, 1) and val_fraction in [0, 1), got "
                          f"{test_fraction} and {val_fraction}")
    x, y = load_digits(return_X_y=True)
    x_rest, x_test, y_rest, y_test = train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)
    if val_fraction > 0:
        x_train, x_val, y_train, y_val = train_test_split(x_rest, y_rest, test_size=val_fraction,
                                                          random_state=seed, stratify=y_rest)
    else:
        x_train, y_train, x_val, y_val = x_rest, y_rest, x_rest[:0], y_rest[:0]
    mean = x_train.mean(axis=0)
    std = np.maximum(x_train.std(axis=0), 1.0)

    def images(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(((a - mean) / std).astype(np.float32).reshape(-1, 1, 8, 8))

    def labels(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a.astype(np.int64))

    return DigitsSplit(images(x_train), labels(y_train), images(x_val), labels(y_val), images(x_test), labels(y_test),
                       seed)
