"""MNIST-1D (Greydanus 2020), generated procedurally by the ``mnist1d`` package (no download)."""

from __future__ import annotations

import os

import numpy as np

from hwsim.data import cache_dir


def mnist1d_arrays() -> dict[str, np.ndarray]:
    """MNIST-1D with the default arguments (x, y: 4000 training signals; x_test, y_test: 1000), generated
    once and cached under ``hwsim.data.cache_dir("mnist1d")``."""
    path = cache_dir("mnist1d") / "mnist1d_default_seed42.npz"
    if path.exists():
        with np.load(path) as z:
            return {k: z[k] for k in ("x", "y", "x_test", "y_test")}
    from mnist1d.data import get_dataset_args, make_dataset

    state = np.random.get_state()  # make_dataset reseeds numpy's global generator; restore it
    try:
        made = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(state)
    arrays = {k: np.asarray(made[k]) for k in ("x", "y", "x_test", "y_test")}
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")  # parallel first runs must not share a temp file
    np.savez(tmp, **arrays)
    tmp.replace(path)
    return arrays
