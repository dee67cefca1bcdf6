"""Random features (``rf``): one physical pass of the input and a linear read-out -- the ceiling of what a
linear read-out of one pass can do, the peer every physical learner has to beat. Without the physical
layer it is logistic regression on the raw features (``logreg``).

Features: ``[P(x); x]`` (``skip=False``: ``P(x)`` only), ``P`` measured once for every training (and
validation) row in :meth:`setup` (``passes x chunks`` device rows per sample, counted as training rows),
with the same drive map, padding, chunks and passes as a block's. The read-out is
:func:`physical.readout.fit_readout`: multinomial logistic regression on standardised features, its L2
strength chosen on the validation split. A prediction costs one pass: ``passes x chunks`` rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from hwsim.errors import ConfigError
from physical.blocks import PhysicalLayer
from physical.methods.base import Method
from physical.readout import Readout, fit_readout, readout_from_state


class RandomFeatures(Method):
    """A linear read-out of one measured pass of the input (or of the raw input without ``P``)."""

    iterative = False
    label_slots = False
    setup_kind = "train"

    def __init__(self, cfg: Any, n_features: int, n_classes: int, phys: PhysicalLayer | None) -> None:
        super().__init__(cfg, n_features, n_classes, phys)
        self.uses_device = phys is not None
        self.readout: Readout | None = None

    def features(self, x: np.ndarray) -> torch.Tensor:
        """``[P(x); x]`` (or ``P(x)``, or ``x`` without the physical layer) as a tensor."""
        h = torch.from_numpy(np.asarray(x, np.float32))
        if self.phys is None:
            return h
        p = self.phys.measure(h)
        return torch.cat([p, h], dim=1) if self.cfg.skip else p

    def setup(self, x_train: np.ndarray, y_train: np.ndarray, rng: np.random.Generator,
              x_val: np.ndarray | None = None, y_val: np.ndarray | None = None) -> dict[str, Any]:
        """Measure the training (and validation) rows once and fit the read-out."""
        f_val = self.features(x_val) if x_val is not None and len(x_val) else None
        self.readout = fit_readout(self.features(x_train).numpy(), y_train, self.n_classes,
                                   None if f_val is None else f_val.numpy(), y_val, seed=self.cfg.seed)
        return {"readout_c": self.readout.c, "readout_val_acc": self.readout.val_acc}

    def train_batch(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> dict[str, float]:
        """Nothing: the fit happens in :meth:`setup`."""
        return {}

    @torch.no_grad()
    def predict(self, x: np.ndarray) -> np.ndarray:
        """Most probable class per row (one physical pass)."""
        if self.readout is None:
            raise ConfigError("the read-out is not fitted: call setup() first")
        return self.readout.predict(self.features(x))

    def measurements_per_prediction(self) -> int:
        """One pass of the input: ``passes x chunks`` device rows."""
        return self.rows_per_pass(1)

    def digital_params(self) -> int:
        """The read-out's weights and biases."""
        if self.readout is None:
            return 0
        return int(self.readout.weight.numel() + self.readout.bias.numel())

    def state_dict(self) -> dict[str, Any]:
        """The fitted read-out."""
        return {"readout": None if self.readout is None else self.readout.state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the fitted read-out."""
        self.readout = None if state["readout"] is None else readout_from_state(state["readout"])
