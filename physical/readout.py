"""A linear read-out: multinomial logistic regression on standardised features, its L2 strength chosen on
a validation split, fitted in torch (full-batch L-BFGS) so its digital FLOPs are counted like the
rest of training.

The loss is scikit-learn's: ``C * sum_i CE_i + |W|^2 / 2`` (divided by ``C n`` here, which changes
nothing but the scale). ``C`` is picked from :data:`C_GRID` by validation accuracy (warm-started from
the previous ``C``); when no validation data is given, the last tenth of the training rows (after a
seeded shuffle) serves as validation, and the final model is refitted on all training rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from hwsim.errors import ConfigError

C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)
MAX_ITER = 300


@dataclass
class Readout:
    """A fitted read-out: feature mean and std, weights ``(features, classes)``, bias, chosen ``C``."""

    mean: torch.Tensor
    std: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor
    c: float
    val_acc: float | None

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """Class scores of raw (unstandardised) features."""
        return ((features - self.mean) / self.std) @ self.weight + self.bias

    def predict(self, features: torch.Tensor) -> np.ndarray:
        """Most probable class per row."""
        return self.logits(features).argmax(dim=1).numpy()

    def state(self) -> dict[str, object]:
        """Plain tensors and numbers for a checkpoint."""
        return {"mean": self.mean, "std": self.std, "weight": self.weight, "bias": self.bias, "c": self.c,
                "val_acc": self.val_acc}


def _fit(z: torch.Tensor, y: torch.Tensor, classes: int, c: float, init: tuple[torch.Tensor, torch.Tensor] | None
         ) -> tuple[torch.Tensor, torch.Tensor]:
    w = torch.zeros(z.shape[1], classes) if init is None else init[0].clone()
    b = torch.zeros(classes) if init is None else init[1].clone()
    w.requires_grad_(True)
    b.requires_grad_(True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=MAX_ITER, tolerance_grad=1e-6, tolerance_change=1e-9,
                            history_size=20, line_search_fn="strong_wolfe")
    penalty = 0.5 / (c * len(y))

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(z @ w + b, y) + penalty * w.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach(), b.detach()


def _standardiser(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature mean and std (at least 1e-6) of ``x``."""
    return x.mean(dim=0), x.std(dim=0).clamp_min(1e-6)


def fit_readout(x: np.ndarray, y: np.ndarray, classes: int, x_val: np.ndarray | None = None,
                y_val: np.ndarray | None = None, seed: int = 0) -> Readout:
    """Fit the read-out on ``(x, y)``, choosing ``C`` on ``(x_val, y_val)`` (see the module docstring)."""
    x = np.asarray(x, np.float32)
    y = np.asarray(y, np.int64)
    if len(x) < 2:
        raise ConfigError("a read-out needs at least two training rows")
    refit = x_val is None or y_val is None or len(y_val) == 0
    fit_x, fit_y = x, y
    if refit:
        order = np.random.default_rng([seed, 0x7EAD]).permutation(len(y))
        cut = max(1, len(y) // 10)
        x_val, y_val = x[order[:cut]], y[order[:cut]]
        fit_x, fit_y = x[order[cut:]], y[order[cut:]]
    xt = torch.from_numpy(fit_x)
    mean, std = _standardiser(xt)
    z = (xt - mean) / std
    yt = torch.from_numpy(fit_y)
    zv = (torch.from_numpy(np.asarray(x_val, np.float32)) - mean) / std
    yv = np.asarray(y_val, np.int64)
    best: tuple[float, float, tuple[torch.Tensor, torch.Tensor]] | None = None
    params = None
    for c in C_GRID:
        params = _fit(z, yt, classes, c, params)
        acc = float(np.mean((zv @ params[0] + params[1]).argmax(dim=1).numpy() == yv))
        if best is None or acc > best[0]:
            best = (acc, c, params)
    assert best is not None
    acc, c, params = best
    if refit:  # the chosen C on every training row
        xt = torch.from_numpy(x)
        mean, std = _standardiser(xt)
        params = _fit((xt - mean) / std, torch.from_numpy(y), classes, c, params)
    return Readout(mean, std, params[0], params[1], c, acc)


def readout_from_state(state: dict[str, object]) -> Readout:
    """Rebuild a :class:`Readout` from :meth:`Readout.state`."""
    return Readout(**state)  # type: ignore[arg-type]
