"""A small MLP regression model fitted to measured input/output pairs of a physical system.

Used twice: the acoustic cavity (:mod:`physical.systems.acoustic`) is an MLP fitted to the measured
pairs of a real cavity, and the trainers fit digital twins of any device to its measurements.

``fit_surrogate(x, y)`` splits the pairs into train / validation / test sets (seeded), standardises
inputs and outputs, trains an MLP with Adam on the mean squared error of the standardised outputs
with early stopping on the validation error, and returns a :class:`Surrogate`: an ``nn.Module`` that
takes and returns *physical* units (the normalisation is built in), with ``metrics`` that hold the
train / val / test RMSE and R^2 (per output and mean) next to those of a linear least-squares
baseline fitted on the same training split.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from hwsim.errors import ConfigError, DataError, ShapeError
from hwsim.progress import progress

ACTIVATIONS = {"silu": nn.SiLU, "relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}


@dataclass(frozen=True)
class SurrogateConfig:
    """Architecture and fit settings; part of the cache key of a fitted surrogate."""

    n_in: int
    n_out: int
    hidden: tuple[int, ...] = (100, 200, 100)
    activation: str = "silu"
    epochs: int = 300
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 0.0
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    patience: int = 40
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d


@dataclass
class SplitMetrics:
    """RMSE and R^2 of one model on one split (R^2 per output and their unweighted mean)."""

    rmse: float
    r2: float
    r2_per_output: list[float] = field(default_factory=list)
    rmse_per_output: list[float] = field(default_factory=list)
    n: int = 0


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> SplitMetrics:
    """RMSE (over all entries and per output) and coefficient of determination R^2 per output and mean."""
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if y_true.shape != y_pred.shape or y_true.ndim != 2:
        raise ShapeError(f"metrics need two (n, outputs) arrays of the same shape, got {y_true.shape} "
                         f"and {y_pred.shape}")
    err = y_pred - y_true
    sse = np.sum(err ** 2, axis=0)
    sst = np.sum((y_true - y_true.mean(axis=0)) ** 2, axis=0)
    r2 = 1.0 - sse / np.maximum(sst, 1e-300)
    return SplitMetrics(rmse=float(np.sqrt(np.mean(err ** 2))), r2=float(np.mean(r2)),
                        r2_per_output=[float(v) for v in r2],
                        rmse_per_output=[float(v) for v in np.sqrt(np.mean(err ** 2, axis=0))],
                        n=int(y_true.shape[0]))


def split_indices(n: int, val_fraction: float, test_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """A seeded random partition of ``range(n)`` into ``train``, ``val`` and ``test`` index arrays."""
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ConfigError(f"val_fraction={val_fraction} and test_fraction={test_fraction} must be in [0, 1) "
                          "and leave some training data")
    perm = np.random.default_rng(seed).permutation(n)
    n_test = int(round(test_fraction * n))
    n_val = int(round(val_fraction * n))
    return {"test": np.sort(perm[:n_test]), "val": np.sort(perm[n_test:n_test + n_val]),
            "train": np.sort(perm[n_test + n_val:])}


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block on ``n`` torch intra-op threads (``None``: leave torch's setting), then restore it."""
    if not n:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def fit_linear(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares affine map ``y ~ x @ w + b``; returns ``(w, b)``."""
    xa = np.hstack([np.asarray(x, np.float64), np.ones((len(x), 1))])
    coef, *_ = np.linalg.lstsq(xa, np.asarray(y, np.float64), rcond=None)
    return coef[:-1], coef[-1]


class Surrogate(nn.Module):
    """An MLP in physical units: ``y = mlp((x - x_mean) / x_std) * y_std + y_mean``.

    ``metrics`` holds the fit report (see :func:`fit_surrogate`); :meth:`predict` is the numpy path.
    """

    def __init__(self, config: SurrogateConfig) -> None:
        super().__init__()
        if config.activation not in ACTIVATIONS:
            raise ConfigError(f"unknown activation '{config.activation}'; choose one of {sorted(ACTIVATIONS)}")
        self.config = config
        sizes = [config.n_in, *config.hidden, config.n_out]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(ACTIVATIONS[config.activation]())
        self.mlp = nn.Sequential(*layers)
        for name, size in (("x_mean", config.n_in), ("x_std", config.n_in), ("y_mean", config.n_out),
                           ("y_std", config.n_out)):
            self.register_buffer(name, torch.zeros(size) if "mean" in name else torch.ones(size))
        self.metrics: dict[str, Any] = {}

    def net(self, z: torch.Tensor) -> torch.Tensor:
        """The network on standardised inputs, giving standardised outputs."""
        return self.mlp(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predicted outputs (physical units) for inputs ``x`` (physical units), shape ``(B, n_out)``."""
        return self.net((x - self.x_mean) / self.x_std) * self.y_std + self.y_mean

    def predict(self, x: np.ndarray, batch_size: int = 8192, num_threads: int | None = 1) -> np.ndarray:
        """Numpy in, numpy out (float32), evaluated without gradients on ``num_threads`` torch threads.

        One thread by default: a small MLP gains nothing from more, and where the cores are busy,
        threads that wait on each other make it many times slower. ``None`` keeps torch's setting.
        """
        arr = np.asarray(x, dtype=np.float32)
        if arr.ndim != 2 or arr.shape[1] != self.config.n_in:
            raise ShapeError(f"surrogate expects inputs of shape (batch, {self.config.n_in}), got {arr.shape}")
        outs = []
        with torch.no_grad(), torch_threads(num_threads):
            for start in range(0, len(arr), batch_size):
                outs.append(self(torch.from_numpy(arr[start:start + batch_size])).numpy())
        if not outs:
            return np.zeros((0, self.config.n_out), dtype=np.float32)
        return np.concatenate(outs).astype(np.float32, copy=False)

    def save(self, path: str | Path) -> Path:
        """Write config, weights and metrics to ``path`` (atomically: a reader never sees half a file)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        blob = {"format": "hwsim-surrogate/1", "config": self.config.to_dict(),
                "state_dict": self.state_dict(), "metrics_json": json.dumps(self.metrics)}
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".part-", suffix=".pt")
        os.close(fd)
        try:
            torch.save(blob, tmp)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Surrogate:
        """Read a surrogate written by :meth:`save`; raises :class:`DataError` for a missing or foreign file."""
        path = Path(path)
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            if blob.get("format") != "hwsim-surrogate/1":
                raise KeyError("format")
            cfg = dict(blob["config"])
            cfg["hidden"] = tuple(cfg["hidden"])
            model = cls(SurrogateConfig(**cfg))
            model.load_state_dict(blob["state_dict"])
            model.metrics = json.loads(blob["metrics_json"])
        except FileNotFoundError as exc:
            raise DataError(f"no surrogate file at {path}; fit one with fit_surrogate(...).save(path)") from exc
        except Exception as exc:  # corrupt pickle, wrong keys, shape mismatch
            raise DataError(f"{path} is not a readable hwsim surrogate ({type(exc).__name__}: {exc}); "
                            "delete it and fit again") from exc
        model.eval()
        return model


def _check_pairs(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.float32)
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y):
        raise ShapeError(f"fit_surrogate needs x of shape (n, inputs) and y of shape (n, outputs) with the same n; "
                         f"got {x.shape} and {y.shape}")
    if len(x) < 10:
        raise DataError(f"fit_surrogate needs at least 10 pairs, got {len(x)}; measure more")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise DataError("the pairs contain NaN or inf; drop those measurements before fitting")
    return x, y


def fit_surrogate(x: np.ndarray, y: np.ndarray, num_threads: int | None = None, **settings: Any) -> Surrogate:
    """Fit an MLP to the pairs ``(x, y)`` and return it with its fit report in ``.metrics``.

    ``settings`` are :class:`SurrogateConfig` fields other than ``n_in``/``n_out`` (which come from the
    data); the rest keep the config's defaults. The split is :func:`split_indices` with ``seed``.
    Training stops after ``epochs`` or when the validation error (MSE of the standardised outputs) has
    not improved for ``patience`` epochs (with ``val_fraction=0`` it runs all epochs, keeping the best
    training loss); the weights of the best epoch are kept. ``num_threads`` sets torch's threads for
    the fit (``None``: as is). ``metrics`` has ``train``/``val``/``test`` (:class:`SplitMetrics` as
    dicts; ``test`` absent when ``test_fraction=0``), ``linear`` (the same for a least-squares affine
    fit on the training split), ``best_epoch``, ``epochs_run``, ``fit_seconds`` and ``config``.
    """
    x, y = _check_pairs(x, y)
    allowed = {f.name for f in fields(SurrogateConfig)} - {"n_in", "n_out"}
    unknown = sorted(set(settings) - allowed)
    if unknown:
        raise ConfigError(f"unknown surrogate settings {unknown}; choose from {', '.join(sorted(allowed))}")
    if "hidden" in settings:
        settings["hidden"] = tuple(int(h) for h in settings["hidden"])
    config = SurrogateConfig(n_in=x.shape[1], n_out=y.shape[1], **settings)
    split = split_indices(len(x), config.val_fraction, config.test_fraction, config.seed)
    t0 = time.perf_counter()
    with torch_threads(num_threads):
        model, best_epoch, epochs_run = _train(config, x, y, split)
    metrics: dict[str, Any] = {"config": config.to_dict(), "best_epoch": best_epoch, "epochs_run": epochs_run,
                               "fit_seconds": time.perf_counter() - t0}
    w, b = fit_linear(x[split["train"]], y[split["train"]])
    metrics["linear"] = {}
    for name, idx in split.items():
        if len(idx) == 0:
            continue
        metrics[name] = asdict(regression_metrics(y[idx], model.predict(x[idx])))
        metrics["linear"][name] = asdict(regression_metrics(y[idx], x[idx].astype(np.float64) @ w + b))
    model.metrics = metrics
    return model


def _train(config: SurrogateConfig, x: np.ndarray, y: np.ndarray,
           split: dict[str, np.ndarray]) -> tuple[Surrogate, int, int]:
    torch.manual_seed(config.seed)
    model = Surrogate(config)
    xtr, ytr = x[split["train"]], y[split["train"]]
    model.x_mean.copy_(torch.from_numpy(xtr.mean(0)))
    model.x_std.copy_(torch.from_numpy(np.maximum(xtr.std(0), 1e-8)))
    model.y_mean.copy_(torch.from_numpy(ytr.mean(0)))
    model.y_std.copy_(torch.from_numpy(np.maximum(ytr.std(0), 1e-8)))
    # the loss is taken on standardised outputs so every output counts equally, whatever its scale
    xt = torch.from_numpy(xtr)
    zt = (torch.from_numpy(ytr) - model.y_mean) / model.y_std
    has_val = len(split["val"]) > 0
    xv = torch.from_numpy(x[split["val"]])
    zv = (torch.from_numpy(y[split["val"]]) - model.y_mean) / model.y_std
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, config.epochs))
    gen = torch.Generator().manual_seed(config.seed)
    best = (float("inf"), 0, {k: v.clone() for k, v in model.state_dict().items()})
    epoch = 0
    for epoch in progress(range(1, config.epochs + 1), desc="fit surrogate"):
        model.train()
        order = torch.randperm(len(xt), generator=gen)
        for start in range(0, len(xt), config.batch_size):
            idx = order[start:start + config.batch_size]
            opt.zero_grad(set_to_none=True)
            pred = model.net((xt[idx] - model.x_mean) / model.x_std)
            loss = torch.mean((pred - zt[idx]) ** 2)
            loss.backward()
            opt.step()
        sched.step()
        model.eval()
        with torch.no_grad():
            if has_val:
                score = float(torch.mean((model.net((xv - model.x_mean) / model.x_std) - zv) ** 2))
            else:
                score = float(torch.mean((model.net((xt - model.x_mean) / model.x_std) - zt) ** 2))
        if score < best[0]:
            best = (score, epoch, {k: v.clone() for k, v in model.state_dict().items()})
        elif has_val and epoch - best[1] >= config.patience:
            break
    model.load_state_dict(best[2])
    model.eval()
    return model, best[1], epoch
