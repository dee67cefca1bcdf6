"""Structured channel (filter) pruning that physically shrinks the network.

Each convolution or hidden linear layer of an ``nn.Sequential`` keeps its most important output
channels, ranked by the L1 or L2 norm of their filters or by the magnitude of the batch-norm scale
that follows (Li et al. 2017; Liu et al. 2017, "network slimming"). Pruning builds new, smaller
layers: the batch norm after a pruned layer is sliced with it, and its consumer (the next
convolution, or a linear layer behind a ``Flatten``) loses the matching input channels. The last
layer keeps all its outputs. A short fine-tune then recovers the accuracy.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import nn

from edge.compress.surgery import resized
from edge.digits import DigitsSplit
from edge.train import EdgeTrainConfig, fit
from hwsim.errors import ConfigError, NotSupportedError

CRITERIA = ("l1", "l2", "bn")
PASS_THROUGH = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid, nn.MaxPool2d, nn.AvgPool2d,
                nn.AdaptiveAvgPool2d, nn.Dropout, nn.Identity)


@dataclass(frozen=True)
class ChannelConfig:
    """How much to keep, how to rank channels, and the fine-tune after shrinking."""

    keep: float | tuple[float, ...] = 0.25
    criterion: str = "l1"
    finetune: EdgeTrainConfig = field(default_factory=lambda: EdgeTrainConfig(epochs=10, lr=1e-3))


def _prunable_indices(layers: Sequence[nn.Module]) -> list[int]:
    """Positions of the conv / linear layers whose outputs may be pruned: all but the last one."""
    weighted = [i for i, m in enumerate(layers) if isinstance(m, (nn.Conv2d, nn.Linear))]
    return weighted[:-1]


def _check_supported(layers: Sequence[nn.Module]) -> None:
    for i, m in enumerate(layers):
        if not isinstance(m, (nn.Conv2d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d, nn.Flatten, *PASS_THROUGH)):
            raise NotSupportedError(
                f"channel pruning handles a flat nn.Sequential of Conv2d, Linear, BatchNorm, Flatten, pooling, "
                f"dropout and activations; layer {i} is a {type(m).__name__}. Flatten nested containers first.")
        if isinstance(m, nn.Conv2d) and m.groups != 1:
            raise NotSupportedError(f"layer {i} is a grouped convolution; channel pruning supports groups=1 only")


def following_batchnorm(layers: Sequence[nn.Module], index: int) -> nn.Module | None:
    """The batch norm that normalises the outputs of ``layers[index]``, if there is one before the next
    weighted layer."""
    for nxt in layers[index + 1:]:
        if isinstance(nxt, (nn.BatchNorm1d, nn.BatchNorm2d)):
            return nxt
        if isinstance(nxt, (nn.Conv2d, nn.Linear)):
            return None
    return None


def channel_scores(weight: torch.Tensor, batchnorm: nn.Module | None, criterion: str) -> torch.Tensor:
    """Importance of each output channel of a layer with ``weight`` (out channels first) under
    ``criterion``: ``l1`` or ``l2`` norm of its filter, or ``bn``: |scale| of the following batch norm."""
    if criterion == "l1":
        return weight.detach().flatten(1).abs().sum(1)
    if criterion == "l2":
        return weight.detach().flatten(1).pow(2).sum(1).sqrt()
    if criterion == "bn":
        if batchnorm is None or batchnorm.weight is None:
            raise ConfigError("criterion 'bn' needs an affine batch norm after every pruned layer; "
                              "use 'l1' or 'l2' for this model")
        return batchnorm.weight.detach().abs()
    raise ConfigError(f"unknown channel criterion '{criterion}'; choose one of {', '.join(CRITERIA)}")


@torch.no_grad()
def _input_shapes(model: nn.Sequential, example: torch.Tensor) -> list[tuple[int, ...]]:
    shapes = []
    x = example[:1]
    for layer in model:
        shapes.append(tuple(x.shape[1:]))
        x = layer(x)
    return shapes


@torch.no_grad()
def shrink_channels(model: nn.Sequential, keep: float | Sequence[float], example: torch.Tensor,
                    criterion: str = "l1") -> nn.Sequential:
    """A new, smaller ``nn.Sequential``: each prunable layer keeps ``ceil(keep * channels)`` outputs.

    ``keep`` is one fraction for every prunable layer or one per prunable layer (all conv / linear
    layers but the last); ``example`` is a batch of inputs used to find the sizes behind ``Flatten``.
    """
    if not isinstance(model, nn.Sequential):
        raise NotSupportedError(f"channel pruning needs an nn.Sequential, got {type(model).__name__}")
    layers = list(model)
    _check_supported(layers)
    targets = _prunable_indices(layers)
    fractions = [float(keep)] * len(targets) if isinstance(keep, (int, float)) else [float(k) for k in keep]
    if len(fractions) != len(targets):
        raise ConfigError(f"{len(fractions)} keep fractions for {len(targets)} prunable layers")
    if criterion not in CRITERIA:
        raise ConfigError(f"unknown channel criterion '{criterion}'; choose one of {', '.join(CRITERIA)}")
    if any(not 0.0 < f <= 1.0 for f in fractions):
        raise ConfigError(f"keep fractions must be in (0, 1], got {fractions}")
    fraction_of = dict(zip(targets, fractions))
    shapes = _input_shapes(model, example)
    model_was_training = model.training
    new_layers: list[nn.Module] = []
    kept: torch.Tensor | None = None  # indices of the features the next layer receives
    for i, layer in enumerate(layers):
        layer = copy.deepcopy(layer)
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            w = layer.weight.detach()
            if kept is not None:
                w = w[:, kept]
            out_idx = torch.arange(w.shape[0])
            if i in fraction_of:
                n_keep = max(1, math.ceil(fraction_of[i] * w.shape[0]))
                scores = channel_scores(w, following_batchnorm(layers, i), criterion)
                out_idx = torch.sort(torch.topk(scores, n_keep).indices).values
            new = resized(layer, w.shape[1], len(out_idx))
            new.weight.copy_(w[out_idx])
            if layer.bias is not None:
                new.bias.copy_(layer.bias.detach()[out_idx])
            layer, kept = new, (out_idx if i in fraction_of else None)
        elif isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)) and kept is not None:
            new = resized(layer, None, len(kept))
            for name in ("weight", "bias", "running_mean", "running_var"):
                src = getattr(layer, name)
                if src is not None:
                    getattr(new, name).copy_(src.detach()[kept])
            new.num_batches_tracked.copy_(layer.num_batches_tracked)
            layer = new
        elif isinstance(layer, nn.Flatten) and kept is not None:
            spatial = math.prod(shapes[i][1:])  # features per channel after flattening (C, H, W)
            kept = (kept[:, None] * spatial + torch.arange(spatial)[None, :]).flatten()
        new_layers.append(layer)
    return nn.Sequential(*new_layers).train(model_was_training)


def channel_prune(model: nn.Sequential, data: DigitsSplit, cfg: ChannelConfig) -> nn.Sequential:
    """Shrink ``model`` (a trained ``nn.Sequential``) by ``cfg.keep`` and fine-tune it on ``data``."""
    small = shrink_channels(model, cfg.keep, data.x_train, cfg.criterion)
    if cfg.finetune.epochs > 0:
        fit(small, data, cfg.finetune, desc="fine-tune")
    return small.eval()
