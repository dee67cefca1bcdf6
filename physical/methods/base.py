"""The interface every training method implements, and helpers they share."""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
import torch

if TYPE_CHECKING:  # pragma: no cover
    from physical.blocks import PhysicalLayer
    from physical.config import PhysicalTrainConfig


class Method:
    """A way to train a classifier on top of a physical layer.

    The trainer calls :meth:`setup` once (one-off work such as fitting a digital twin; its device
    measurements count), then :meth:`train_batch` for every batch, and :meth:`predict` to evaluate.
    ``phys`` is ``None`` when the physical layer is switched off.
    """

    uses_device = True
    iterative = True  # False: all the work happens in setup() and the epoch loop is skipped
    label_slots = True  # False: the network input is the features alone (no overlay slots)
    setup_kind = "twin"  # what setup()'s device rows are: twin data, or training data ("train")

    def __init__(self, cfg: PhysicalTrainConfig, n_features: int, n_classes: int,
                 phys: PhysicalLayer | None) -> None:
        self.cfg = cfg
        self.n_features = n_features
        self.n_classes = n_classes
        self.phys = phys
        self.n_slots = (cfg.overlay_slots or n_classes) if self.label_slots else 0
        self.label_pixels = max(1, cfg.label_pixels)
        self.slot_columns = self.n_slots * self.label_pixels  # overlay columns in front of the features
        self.in_features = self.slot_columns + n_features
        self.width = cfg.width or self.in_features

    @property
    def batch_size(self) -> int:
        """Training batch size (0 in the config means the whole training set)."""
        return self.cfg.batch_size

    def setup(self, x_train: np.ndarray, y_train: np.ndarray, rng: np.random.Generator,
              x_val: np.ndarray | None = None, y_val: np.ndarray | None = None) -> dict[str, Any]:
        """One-off work before training (the validation split, when there is one, may pick settings);
        returns facts to log (nothing by default)."""
        return {}

    def train_batch(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> dict[str, float]:
        """One training step on a batch; returns losses to log."""
        raise NotImplementedError

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted labels ``(N,)`` for features ``x`` ``(N, F)``."""
        raise NotImplementedError

    def measurements_per_prediction(self) -> int:
        """Device rows :meth:`predict` measures per sample (0 without a physical layer)."""
        return 0

    def rows_per_pass(self, layers: int) -> int:
        """Device rows one sample costs on one pass through ``layers`` blocks (0 without a physical layer)."""
        if self.phys is None:
            return 0
        dims = [self.in_features] + [self.width] * (layers - 1)
        return sum(self.phys.rows(d) for d in dims)

    def modules(self) -> list[torch.nn.Module]:
        """The trainable digital modules (their parameters are what the method trains)."""
        return []

    def digital_params(self) -> int:
        """Number of trained digital parameters."""
        return int(sum(p.numel() for m in self.modules() for p in m.parameters()))

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume training exactly."""
        raise NotImplementedError

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        raise NotImplementedError


def cosine_schedule(step: int, total: int) -> float:
    """The factor of a cosine learning-rate decay from 1 at step 0 to 0 at ``total`` (constant after)."""
    if total <= 0:
        return 1.0
    return 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))


def apply_lr_schedule(opt: torch.optim.Optimizer, schedule: str, base_lr: float, step: int, total: int) -> None:
    """Set ``opt``'s learning rate for ``step`` of ``total``: ``cosine`` decays ``base_lr``, ``constant``
    leaves it as it is."""
    if schedule == "cosine":
        for group in opt.param_groups:
            group["lr"] = base_lr * cosine_schedule(step, total)


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run a block (e.g. module construction) with torch's global generator seeded, then restore it."""
    state = torch.get_rng_state()
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.set_rng_state(state)


def no_label_slots(x: np.ndarray, n_columns: int) -> np.ndarray:
    """``x`` with ``n_columns`` zero columns in front: the overlay layout with every label slot empty."""
    x = np.asarray(x, dtype=np.float32)
    return np.concatenate([np.zeros((x.shape[0], n_columns), np.float32), x], axis=1)
