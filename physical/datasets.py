"""Classification data sets for physical training: vowels (7-vowel PhyLL subset, 12-vowel Hillenbrand
table), scikit-learn's 8x8 digits and MNIST-1D, each split deterministically by seed.

Every set is returned as a :class:`Dataset` of float32 features (no label slots: the overlay adds
them) and int64 labels. Features are scaled per column to zero mean and unit variance (``zscore``),
or as the PhyLL reference does (``phyll``): the same z-score, then the global minimum subtracted so
all features are >= 0. The statistics come from the training split only (the reference computes them
over all 258 rows; unsupervised, and negligible here).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from hwsim.data import dataset_file
from hwsim.errors import ConfigError, DataError
from hwsim.mnist1d import mnist1d_arrays


@dataclass(frozen=True)
class Dataset:
    """Train/validation/test arrays of one split. ``x_*`` is ``(n, features)`` float32, ``y_*`` is ``(n,)``
    int64. The validation rows (none unless asked for) come out of the training data."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    x_val: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    y_val: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def n_features(self) -> int:
        """Number of features per sample."""
        return int(self.x_train.shape[1])


# -- raw loaders: (x, y) for the whole set, or a fixed train/test split --------------------------------

PHYLL_VOWELS = ("ae", "ah", "aw", "er", "ih", "iy", "uw")
HILLENBRAND_VOWELS = ("ae", "ah", "aw", "eh", "er", "ei", "ih", "iy", "oa", "oo", "uh", "uw")
# vowdata.dat columns kept by PhyLL: F1-F3 at steady state, at 20%, 50% and 80% of the duration
_FORMANT_COLUMNS = (3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15)
_TOKEN = re.compile(r"^[mwbg]\d\d[a-z]{2}$")


def _vowels7() -> tuple[np.ndarray, np.ndarray]:
    path = dataset_file("vowels", "phyll_Vowel_dataset.csv")
    rows = path.read_text().strip().splitlines()[1:]
    files, feats = [], []
    for line in rows:
        parts = line.split(",")
        if len(parts) != 13:
            raise DataError(f"{path}: a row has {len(parts)} fields, expected 13; fetch the data set again")
        files.append(parts[0])
        feats.append([float(v) for v in parts[1:]])
    y = np.array([PHYLL_VOWELS.index(f[3:5]) for f in files], dtype=np.int64)
    return np.asarray(feats, dtype=np.float64), y


def _vowels12() -> tuple[np.ndarray, np.ndarray]:
    path = dataset_file("vowels", "vowdata.dat")
    feats, labels = [], []
    for line in path.read_text(errors="replace").splitlines():
        parts = line.split()
        if len(parts) != 16 or not _TOKEN.match(parts[0]):
            continue
        row = [float(parts[c]) for c in _FORMANT_COLUMNS]
        if min(row) <= 0:  # 0 = formant not measurable: drop the token rather than invent a value
            continue
        feats.append(row)
        labels.append(HILLENBRAND_VOWELS.index(parts[0][3:5]))
    if len(feats) < 1000:
        raise DataError(f"{path}: only {len(feats)} usable tokens parsed; the file looks truncated")
    return np.asarray(feats, dtype=np.float64), np.asarray(labels, dtype=np.int64)


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.data.astype(np.float64), d.target.astype(np.int64)


def _mnist1d() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MNIST-1D generated with the package's default arguments (seed 42): 4000 train, 1000 test."""
    a = mnist1d_arrays()
    return a["x"], a["y"], a["x_test"], a["y_test"]


# -- splitting and scaling ----------------------------------------------------------------------------

def split_by_seed(x: np.ndarray, y: np.ndarray, seed: int, train_fraction: float = 0.8
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle with ``seed`` and cut into the first ``int(train_fraction * n)`` rows and the rest."""
    order = np.random.default_rng(seed).permutation(len(y))
    cut = int(train_fraction * len(y))
    tr, te = order[:cut], order[cut:]
    return x[tr], y[tr], x[te], y[te]


SCALINGS = ("zscore", "phyll")


def scale(x_train: np.ndarray, x_test: np.ndarray, scaling: str = "zscore") -> tuple[np.ndarray, np.ndarray]:
    """Per-column z-score with training statistics; ``phyll`` then subtracts the global training minimum."""
    if scaling not in SCALINGS:
        raise ConfigError(f"unknown scaling '{scaling}'; choose one of {', '.join(SCALINGS)}")
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    ztr, zte = (x_train - mean) / std, (x_test - mean) / std
    shift = ztr.min() if scaling == "phyll" else 0.0
    return (ztr - shift).astype(np.float32), (zte - shift).astype(np.float32)


def _from_whole(name: str, loader: Callable[[], tuple[np.ndarray, np.ndarray]]) -> Callable[[int], tuple]:
    def build(seed: int) -> tuple:
        x, y = loader()
        return (*split_by_seed(x, y, seed), int(y.max()) + 1)
    return build


def _mnist1d_split(seed: int) -> tuple:
    del seed  # the generator's own split is fixed; the run seed only changes initialisation
    xtr, ytr, xte, yte = _mnist1d()
    return xtr, ytr.astype(np.int64), xte, yte.astype(np.int64), 10


# name -> seed -> (x_train, y_train, x_test, y_test, n_classes), unscaled
DATASETS: dict[str, Callable[[int], tuple]] = {
    "vowels7": _from_whole("vowels7", _vowels7),
    "vowels12": _from_whole("vowels12", _vowels12),
    "digits": _from_whole("digits", _digits),
    "mnist1d": _mnist1d_split,
}


def hold_out(data: Dataset, fraction: float, seed: int) -> Dataset:
    """``data`` with ``round(fraction * n_train)`` training rows (drawn with ``seed``) moved to a validation
    split; the test split is untouched."""
    if not 0 <= fraction < 1:
        raise ConfigError(f"val_fraction must be in [0, 1), got {fraction}")
    n = len(data.y_train)
    k = int(round(fraction * n))
    if k == 0:
        return data
    if k >= n:
        raise ConfigError(f"val_fraction={fraction} leaves no training rows out of {n}")
    order = np.random.default_rng([int(seed), 0x7A1]).permutation(n)
    val, train = np.sort(order[:k]), np.sort(order[k:])
    return replace(data, x_train=data.x_train[train], y_train=data.y_train[train], x_val=data.x_train[val],
                   y_val=data.y_train[val])


def load_dataset(name: str, seed: int = 0, max_train: int | None = None, max_test: int | None = None,
                 scaling: str = "zscore", val_fraction: float = 0.0) -> Dataset:
    """The data set ``name`` (one of :data:`DATASETS`) split by ``seed`` and scaled; ``max_train`` and
    ``max_test`` keep only the first rows of each split (a smaller budget of device measurements);
    ``val_fraction`` of the (kept) training rows then become the validation split (:func:`hold_out`)."""
    if name not in DATASETS:
        raise ConfigError(f"unknown data set '{name}'; choose one of {', '.join(DATASETS)}")
    xtr, ytr, xte, yte, n_classes = DATASETS[name](seed)
    xtr, xte = scale(xtr, xte, scaling)
    ntr = len(ytr) if max_train is None else max(1, min(max_train, len(ytr)))
    nte = len(yte) if max_test is None else max(1, min(max_test, len(yte)))
    return hold_out(Dataset(name, xtr[:ntr], ytr[:ntr], xte[:nte], yte[:nte], n_classes), val_fraction, seed)
