"""Label overlay for forward-forward training: the label is written into reserved input slots.

A sample ``x`` of ``F`` features becomes ``[s_0 .. s_{S-1}, x]`` with ``S >= n_classes`` slots, all zero
except slot ``label``, which carries the overlay value. A slot is ``pixels`` adjacent columns (a block of
device input pixels, as PhyLL writes the label as whole rows of the image), so the label can reach
the physics with more than one pixel. Two ways to choose the overlay value:

- ``"sample"``: the sample's own ``max |x|``; a prediction depends only on that sample.
- ``"batch"``: the largest ``|x|`` in the whole batch, as the PhyLL reference does; a prediction then
  depends on the other samples of the batch it was evaluated in.
"""

from __future__ import annotations

import numpy as np

from hwsim.errors import ConfigError

MODES = ("sample", "batch")


def overlay(x: np.ndarray, labels: np.ndarray | int, n_slots: int, mode: str = "sample", pixels: int = 1
            ) -> np.ndarray:
    """Prepend ``n_slots`` label slots of ``pixels`` columns each to every row of ``x`` and write the overlay
    value into every column of slot ``label``."""
    if mode not in MODES:
        raise ConfigError(f"unknown overlay mode '{mode}'; choose one of {', '.join(MODES)}")
    x = np.asarray(x, dtype=np.float32)
    labels = np.broadcast_to(np.asarray(labels, dtype=np.int64), (x.shape[0],))
    if labels.size and (labels.min() < 0 or labels.max() >= n_slots):
        raise ConfigError(f"labels must lie in 0..{n_slots - 1} to fit the {n_slots} overlay slots")
    absx = np.abs(x)
    if mode == "sample":
        value = absx.max(axis=1) if x.shape[1] else np.zeros(x.shape[0], np.float32)
    else:
        value = np.full(x.shape[0], absx.max() if absx.size else 0.0, dtype=np.float32)
    slots = np.zeros((x.shape[0], n_slots, pixels), dtype=np.float32)
    slots[np.arange(x.shape[0]), labels] = value[:, None]
    return np.concatenate([slots.reshape(x.shape[0], n_slots * pixels), x], axis=1)


def wrong_labels(labels: np.ndarray, n_classes: int, rng: np.random.Generator) -> np.ndarray:
    """For each label, a different label drawn uniformly from the other ``n_classes - 1``."""
    labels = np.asarray(labels, dtype=np.int64)
    shift = rng.integers(1, n_classes, size=labels.shape)
    return (labels + shift) % n_classes
