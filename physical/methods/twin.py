"""Digital twin of a device: an MLP surrogate fitted to the device's own measurements.

The twin maps device rows (drive values, in the device's input range) to measured outputs. Its data
are measured on the device, so they count as measurements like any other. The drives are a mix of
what the network will send (the first block's inputs from training data, and random activations
under the same input map) and uniform drives across the full input range.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from physical.blocks import PhysicalLayer
from physical.systems.surrogate import Surrogate, SurrogateConfig, fit_surrogate


def twin_drives(phys: PhysicalLayer, n: int, x_inputs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``n`` device rows to measure for a twin: a third from ``x_inputs`` (rows of first-block inputs),
    a third from random Gaussian activations, a third uniform over the input range."""
    n_data = n // 3 if len(x_inputs) else 0
    n_gauss = (n - n_data) // 2
    n_unif = n - n_data - n_gauss
    parts = []
    if n_data:
        rows = x_inputs[rng.integers(0, len(x_inputs), size=n_data)]
        parts.append(phys.drive(torch.from_numpy(np.asarray(rows, np.float32))).numpy())
    gauss = torch.from_numpy(rng.standard_normal((n_gauss, phys.n_in)).astype(np.float32))
    parts.append(phys.drive(gauss).numpy())
    parts.append(rng.uniform(phys.lo, phys.hi, size=(n_unif, phys.n_in)).astype(np.float32))
    drives = np.concatenate(parts)
    # data rows may span several chunks; keep exactly n rows
    return drives[rng.permutation(len(drives))[:n]]


def fit_twin(phys: PhysicalLayer, n: int, x_inputs: np.ndarray, rng: np.random.Generator, epochs: int,
             hidden: tuple[int, ...] = (128, 128), seed: int = 0) -> Surrogate:
    """Measure ``n`` device rows and fit a :class:`Surrogate` to them (weights frozen afterwards)."""
    drives = twin_drives(phys, n, x_inputs, rng)
    measured = phys.measure_drive(drives)
    twin = fit_surrogate(drives, measured, hidden=hidden, epochs=epochs, patience=max(10, epochs // 5),
                         seed=seed)
    twin.requires_grad_(False)
    return twin


def twin_state(twin: Surrogate) -> dict[str, Any]:
    """A checkpointable description of a twin (config, weights, fit report)."""
    return {"config": twin.config.to_dict(), "state_dict": twin.state_dict(), "metrics": twin.metrics}


def twin_from_state(state: dict[str, Any]) -> Surrogate:
    """Rebuild a twin from :func:`twin_state`."""
    cfg = dict(state["config"])
    cfg["hidden"] = tuple(cfg["hidden"])
    twin = Surrogate(SurrogateConfig(**cfg))
    twin.load_state_dict(state["state_dict"])
    twin.metrics = state.get("metrics", {})
    twin.eval()
    twin.requires_grad_(False)
    return twin
