"""Multi-exit (early-exit) networks: a backbone cut into stages with a classifier ("exit") after each.

Training puts a weighted cross-entropy at every exit. At inference each stage (with its exit head)
is a separately compiled module that passes its intermediate tensor on; a sample stops at the first
exit whose maximum softmax probability reaches the threshold. A threshold of 1 or more never exits
early (a float32 softmax can round to exactly 1.0, so ">= 1" is not used as a test); 0 always stops
at the first exit. The same policy can be compiled as one module with ``torch.cond`` (Relax ``If``):
:class:`CondEarlyExit`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from edge.blocks import conv_bn_relu
from edge.compile import compile_model
from edge.train import LossFn
from hwsim.errors import ConfigError, ShapeError

StageFn = Callable[[np.ndarray], Any]


class MultiExitNet(nn.Module):
    """Stages run in sequence; exit ``k`` classifies the output of stage ``k``.

    ``forward`` returns the last exit's logits (the network without early exits); ``forward_all``
    returns every exit's logits, for training.
    """

    def __init__(self, stages: Sequence[nn.Module], exits: Sequence[nn.Module]) -> None:
        super().__init__()
        if len(stages) != len(exits) or not stages:
            raise ConfigError(f"a multi-exit network needs one exit per stage, got {len(stages)} stages and "
                              f"{len(exits)} exits")
        self.stages = nn.ModuleList(stages)
        self.exits = nn.ModuleList(exits)

    def forward_all(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Logits of every exit."""
        out = []
        for stage, head in zip(self.stages, self.exits):
            x = stage(x)
            out.append(head(x))
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the last exit (every stage runs)."""
        for stage in self.stages:
            x = stage(x)
        return self.exits[-1](x)

    def stage_module(self, k: int) -> ExitStage:
        """Stage ``k`` with its exit head as one module: input features -> (features, probabilities);
        the last stage returns the probabilities only."""
        return ExitStage(self.stages[k], self.exits[k], last=k == len(self.stages) - 1)


class ExitStage(nn.Module):
    """One stage plus its exit head; the unit that is compiled on its own."""

    def __init__(self, stage: nn.Module, head: nn.Module, last: bool) -> None:
        super().__init__()
        self.stage, self.head, self.last = stage, head, last

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """(features for the next stage, softmax of the exit), or only the softmax for the last stage."""
        h = self.stage(x)
        probs = torch.softmax(self.head(h), dim=1)
        return probs if self.last else (h, probs)


def build_ee_cnn(widths: Sequence[int] = (16, 32, 128, 256), classes: int = 10) -> MultiExitNet:
    """The early-exit digits CNN: three stages of rising cost on (N, 1, 8, 8) images.

    stage 1: conv(w0) at 8x8 (cheap); stage 2: conv(w1) at 8x8 and a pool; stage 3: conv(w2) and
    conv(w3) at 4x4 and a pool (most of the work). Each exit is a linear classifier on the flattened
    (pooled) features.
    """
    w0, w1, w2, w3 = widths
    stages = [nn.Sequential(*conv_bn_relu(1, w0)),
              nn.Sequential(*conv_bn_relu(w0, w1), nn.MaxPool2d(2)),
              nn.Sequential(*conv_bn_relu(w1, w2), *conv_bn_relu(w2, w3), nn.MaxPool2d(2))]
    exits = [nn.Sequential(nn.MaxPool2d(2), nn.Flatten(), nn.Linear(w0 * 16, classes)),
             nn.Sequential(nn.Flatten(), nn.Linear(w1 * 16, classes)),
             nn.Sequential(nn.Flatten(), nn.Linear(w3 * 4, classes))]
    return MultiExitNet(stages, exits)


def multi_exit_loss(weights: Sequence[float]) -> LossFn:
    """Weighted sum of the cross-entropies of every exit, divided by the sum of the weights."""
    w = [float(v) for v in weights]
    if not w or min(w) < 0 or sum(w) <= 0:
        raise ConfigError(f"exit weights must be non-negative with a positive sum, got {weights}")

    def loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        outs = model.forward_all(x)
        if len(outs) != len(w):
            raise ConfigError(f"{len(w)} exit weights for a network with {len(outs)} exits")
        return sum(wk * nn.functional.cross_entropy(o, y) for wk, o in zip(w, outs)) / sum(w)

    return loss


@torch.no_grad()
def exit_accuracies(net: MultiExitNet, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """Test accuracy of each exit when every sample goes through every stage."""
    net.eval()
    return [float((o.argmax(1) == y).float().mean()) for o in net.forward_all(x)]


def eager_stages(net: MultiExitNet) -> list[StageFn]:
    """The stages as PyTorch eager callables on numpy arrays (the reference and the eager baseline)."""

    def wrap(mod: nn.Module) -> StageFn:
        mod.eval()

        def run(x: np.ndarray) -> Any:
            with torch.inference_mode():
                out = mod(torch.from_numpy(x))
            return tuple(t.numpy() for t in out) if isinstance(out, tuple) else out.numpy()

        return run

    return [wrap(net.stage_module(k)) for k in range(len(net.stages))]


def compile_stages(net: MultiExitNet, example: torch.Tensor, **compile_kwargs: Any) -> list[StageFn]:
    """Each stage (with its exit head) compiled by :func:`edge.compile_model`, fed with the previous
    stage's output shape; ``compile_kwargs`` go to every compile (target, tune_trials, ...). The
    runner passes on only the samples that did not exit, so for batches over one compile with
    ``dynamic_batch=True``."""
    net.eval()
    compiled = []
    x = example
    with torch.no_grad():
        for k in range(len(net.stages)):
            mod = net.stage_module(k)
            compiled.append(compile_model(mod, example_inputs=(x,), **compile_kwargs))
            if k < len(net.stages) - 1:
                x = mod(x)[0]
    return compiled


class EarlyExitRunner:
    """Runs per-stage callables (numpy in, numpy out) with the confidence-threshold exit policy."""

    def __init__(self, stages: Sequence[StageFn]) -> None:
        if not stages:
            raise ConfigError("an early-exit runner needs at least one stage")
        self.stages = list(stages)

    @property
    def num_exits(self) -> int:
        """Number of exits (one per stage)."""
        return len(self.stages)

    def __call__(self, x: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities of the exit each sample took, index of that exit) for a batch ``x``.

        Samples that exit leave the batch; the rest go on to the next stage.
        """
        if x.ndim < 2:
            raise ShapeError(f"expected a batch of inputs (N, ...), got shape {x.shape}; add a batch dimension")
        n = len(x)
        probs_out: np.ndarray | None = None
        exit_idx = np.full(n, len(self.stages) - 1, dtype=np.int64)
        active = np.arange(n)
        h = x
        for k, stage in enumerate(self.stages):
            last = k == len(self.stages) - 1
            out = stage(h)
            h, probs = (None, out) if last else out
            probs = np.asarray(probs)
            if probs_out is None:
                probs_out = np.empty((n, probs.shape[1]), dtype=probs.dtype)
            if last:
                probs_out[active] = probs
                break
            done = probs.max(axis=1) >= threshold if threshold < 1.0 else np.zeros(len(probs), dtype=bool)
            if done.all():
                probs_out[active] = probs
                exit_idx[active] = k
                break
            if done.any():
                probs_out[active[done]] = probs[done]
                exit_idx[active[done]] = k
                active, h = active[~done], np.ascontiguousarray(np.asarray(h)[~done])
        return probs_out, exit_idx


class CondEarlyExit(nn.Module):
    """The whole exit policy as one module for batch 1: ``forward(x, threshold)`` -> (probabilities,
    exit index), with ``torch.cond`` between stages so Relax compiles it to ``If`` (only the taken
    path runs). ``threshold`` is a float tensor of shape (1,); values >= 1 never exit early."""

    def __init__(self, net: MultiExitNet) -> None:
        super().__init__()
        self.net = net

    def _from(self, k: int, h: torch.Tensor, thr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.net.stages[k](h)
        probs = torch.softmax(self.net.exits[k](h), dim=1)
        index = torch.full((1,), k, dtype=torch.int64)
        if k == len(self.net.stages) - 1:
            return probs, index
        stop = ((probs.max() >= thr) & (thr < 1.0)).all()

        def exit_here(h: torch.Tensor, probs: torch.Tensor, index: torch.Tensor, thr: torch.Tensor):
            return probs.clone(), index.clone()

        def go_on(h: torch.Tensor, probs: torch.Tensor, index: torch.Tensor, thr: torch.Tensor):
            return self._from(k + 1, h, thr)

        return torch.cond(stop, exit_here, go_on, (h, probs, index, thr))

    def forward(self, x: torch.Tensor, threshold: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(probabilities of the exit taken, its index as a 1-element int64 tensor) for one sample."""
        return self._from(0, x, threshold)


class CondRunner:
    """A compiled :class:`CondEarlyExit` used like an :class:`EarlyExitRunner` (batch 1 only)."""

    def __init__(self, compiled: Callable[..., Any], num_exits: int) -> None:
        self.compiled = compiled
        self.num_exits = num_exits

    def __call__(self, x: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities of the exit taken, its index) for a batch of one sample."""
        if x.shape[0] != 1:
            raise ShapeError(f"the torch.cond early-exit module runs one sample at a time, got a batch of {x.shape[0]}")
        probs, index = self.compiled(x, np.array([threshold], dtype=np.float32))
        return np.asarray(probs), np.asarray(index).reshape(1)


@dataclass
class SweepPoint:
    """One threshold of a sweep: accuracy, exit distribution and mean latency per sample."""

    threshold: float
    accuracy: float
    exit_fractions: list[float]
    mean_latency_s: float


def run_per_sample(runner: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], x: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, float]:
    """Run ``runner`` on every sample of ``x`` at batch 1: (predictions, exit indices, seconds per sample)."""
    preds = np.empty(len(x), dtype=np.int64)
    exits = np.empty(len(x), dtype=np.int64)
    start = time.perf_counter()
    for i in range(len(x)):
        probs, idx = runner(x[i:i + 1])
        preds[i] = int(np.argmax(probs[0]))
        exits[i] = int(idx[0])
    return preds, exits, (time.perf_counter() - start) / max(len(x), 1)


def threshold_sweep(runner: EarlyExitRunner | CondRunner, x: np.ndarray, y: np.ndarray, thresholds: Sequence[float],
                    repeat: int = 3) -> list[SweepPoint]:
    """Accuracy, exit distribution and mean per-sample latency (median over ``repeat`` passes over
    ``x`` at batch 1) of the exit policy at each threshold."""
    points = []
    n_exits = runner.num_exits
    for thr in thresholds:
        times = []
        for _ in range(max(repeat, 1)):
            preds, exits, sec = run_per_sample(lambda a, thr=thr: runner(a, thr), x)
            times.append(sec)
        counts = np.bincount(exits, minlength=n_exits)
        points.append(SweepPoint(float(thr), float((preds == y).mean()), (counts / len(x)).tolist(),
                                 float(np.median(times))))
    return points


def pick_threshold(points: Sequence[SweepPoint], reference_accuracy: float, max_drop: float) -> SweepPoint:
    """The lowest threshold (the most early exits) whose accuracy is at most ``max_drop`` below the
    reference. For an honest pick, sweep a validation split and report that threshold on the test split."""
    ok = [p for p in points if p.accuracy >= reference_accuracy - max_drop - 1e-12]
    if not ok:
        raise ConfigError(f"no threshold keeps accuracy within {max_drop} of {reference_accuracy}; "
                          "add higher thresholds to the sweep")
    return min(ok, key=lambda p: p.threshold)
