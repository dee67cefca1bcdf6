"""Low-rank factorisation of linear and convolution layers, plain (truncated SVD) or trainable with
ordered dropout over the rank (in the spirit of Maestro, Horvath et al. 2023).

A Linear weight W (out x in) becomes two layers, ``in -> r`` and ``r -> out``, with W ~ U_r S_r V_r^T
(the square root of S on each side). A k x k convolution is reshaped to a matrix (out x in*k*k):
the first factor is a k x k convolution to ``r`` channels, the second a 1x1 convolution back to
``out`` channels. At full rank the factorisation is exact; truncating drops the smallest singular
directions (the optimal rank-r approximation, Eckart-Young).

:class:`OrderedLowRank` keeps the factors trainable. Ordered dropout trains it with a random prefix
of the rank components each step (``rank = ceil(p * R)`` with ``p ~ U(0, 1]`` shared by all layers of
the network in that step), so the leading components learn to carry the most information and any
prefix works; afterwards the network is truncated at the smallest fraction of ranks that keeps the
validation accuracy, and each layer becomes plain layers again (or one dense layer when the rank is
too high for the factorisation to save work).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from edge.compress.surgery import fold_batchnorm
from edge.digits import DigitsSplit
from edge.train import EdgeTrainConfig, LossFn, cross_entropy, fit
from hwsim.errors import ConfigError, NotSupportedError

Factorisable = nn.Conv2d | nn.Linear


def _matrix(layer: Factorisable) -> torch.Tensor:
    if isinstance(layer, nn.Conv2d) and layer.groups != 1:
        raise NotSupportedError("low-rank factorisation supports groups=1 convolutions only")
    if not isinstance(layer, (nn.Conv2d, nn.Linear)):
        raise NotSupportedError(f"cannot factorise a {type(layer).__name__}; only Conv2d and Linear")
    return layer.weight.detach().flatten(1)


def svd_factors(layer: Factorisable) -> tuple[torch.Tensor, torch.Tensor]:
    """(A, B) with ``A @ B`` equal to the layer's weight matrix, ordered by falling singular value:
    A is out x R, B is R x (in * k * k), R = min of the two sizes."""
    u, s, vh = torch.linalg.svd(_matrix(layer).double(), full_matrices=False)
    root = s.sqrt()
    return (u * root).float(), (root[:, None] * vh).float()


def reconstruction_error(layer: Factorisable, rank: int) -> float:
    """Relative Frobenius error ||W - W_r|| / ||W|| of the rank-``rank`` SVD truncation of the layer."""
    a, b = svd_factors(layer)
    w = _matrix(layer)
    return float(torch.linalg.norm(w - a[:, :rank] @ b[:rank]) / torch.linalg.norm(w))


def saves_work(layer: Factorisable, rank: int) -> bool:
    """Whether two factors of ``rank`` have fewer weights (and MACs per position) than the dense layer."""
    out_size, in_size = _matrix(layer).shape
    return rank * (out_size + in_size) < out_size * in_size


def _plain_factors(layer: Factorisable, a: torch.Tensor, b: torch.Tensor) -> nn.Module:
    """The two plain layers for factors ``a`` (out x r) and ``b`` (r x in*k*k), or one dense layer
    holding their product when factorising does not save work."""
    rank = a.shape[1]
    bias = None if layer.bias is None else layer.bias.detach()
    if not saves_work(layer, rank):
        dense = copy.deepcopy(layer)
        with torch.no_grad():
            dense.weight.copy_((a @ b).view_as(layer.weight))
        return dense
    if isinstance(layer, nn.Linear):
        first, second = nn.Linear(layer.in_features, rank, bias=False), nn.Linear(rank, layer.out_features,
                                                                                   bias=bias is not None)
        w1, w2 = b, a
    else:
        first = nn.Conv2d(layer.in_channels, rank, layer.kernel_size, layer.stride, layer.padding, layer.dilation,
                          bias=False, padding_mode=layer.padding_mode)
        second = nn.Conv2d(rank, layer.out_channels, 1, bias=bias is not None)
        w1, w2 = b.view(rank, *layer.weight.shape[1:]), a.view(layer.out_channels, rank, 1, 1)
    with torch.no_grad():
        first.weight.copy_(w1)
        second.weight.copy_(w2)
        if bias is not None:
            second.bias.copy_(bias)
    return nn.Sequential(first, second)


def svd_factorize(layer: Factorisable, rank: int) -> nn.Module:
    """The layer replaced by its rank-``rank`` truncated SVD (two plain layers, or one dense layer
    when ``rank`` is too high to save work)."""
    a, b = svd_factors(layer)
    if not 1 <= rank <= a.shape[1]:
        raise ConfigError(f"rank must be in 1..{a.shape[1]} for {layer}, got {rank}")
    return _plain_factors(layer, a[:, :rank], b[:rank])


class OrderedLowRank(nn.Module):
    """A trainable factorised layer whose ``rank`` attribute selects how many leading components run.

    ``rank=None`` runs all of them. ``truncate(r)`` gives plain layers that compute exactly what this
    module computes with ``rank = r``.
    """

    def __init__(self, layer: Factorisable) -> None:
        super().__init__()
        a, b = svd_factors(layer)
        self.template = copy.deepcopy(layer).requires_grad_(False)
        self.first = nn.Parameter(b.clone())   # R x in*k*k
        self.second = nn.Parameter(a.clone())  # out x R
        self.bias = None if layer.bias is None else nn.Parameter(layer.bias.detach().clone())
        self.rank: int | None = None

    @property
    def max_rank(self) -> int:
        """Number of rank components R."""
        return self.first.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The layer's output using the first ``self.rank`` components."""
        r = self.max_rank if self.rank is None else self.rank
        first, second = self.first[:r], self.second[:, :r]
        t = self.template
        if isinstance(t, nn.Linear):
            return F.linear(F.linear(x, first), second, self.bias)
        z = F.conv2d(x, first.view(r, *t.weight.shape[1:]), None, t.stride, t.padding, t.dilation)
        return F.conv2d(z, second.view(t.out_channels, r, 1, 1), self.bias)

    def truncate(self, rank: int) -> nn.Module:
        """Plain layers computing this module's output at ``rank`` (two factors, or one dense layer
        when ``rank`` is too high to save work)."""
        if not 1 <= rank <= self.max_rank:
            raise ConfigError(f"rank must be in 1..{self.max_rank}, got {rank}")
        layer = copy.deepcopy(self.template)
        if self.bias is not None:
            with torch.no_grad():
                layer.bias.copy_(self.bias.detach())
        return _plain_factors(layer, self.second.detach()[:, :rank], self.first.detach()[:rank])


def ordered_layers(model: nn.Module) -> list[OrderedLowRank]:
    """The :class:`OrderedLowRank` layers of ``model``."""
    return [m for m in model.modules() if isinstance(m, OrderedLowRank)]


def to_ordered(model: nn.Module, min_rank: int = 4) -> nn.Module:
    """A copy of ``model`` with every Conv2d (groups=1) and Linear of full rank >= ``min_rank`` replaced
    by an :class:`OrderedLowRank` initialised from its exact SVD."""
    model = copy.deepcopy(model)
    for name, mod in list(model.named_modules()):
        if isinstance(mod, (nn.Conv2d, nn.Linear)) and getattr(mod, "groups", 1) == 1 \
                and min(_matrix(mod).shape) >= min_rank:
            model.set_submodule(name, OrderedLowRank(mod))
    return model


def set_rank_fraction(model: nn.Module, fraction: float | None) -> None:
    """Run every ordered layer at ``ceil(fraction * R)`` components (``None``: all)."""
    for m in ordered_layers(model):
        m.rank = None if fraction is None else max(1, math.ceil(fraction * m.max_rank))


def ordered_dropout_loss(base: LossFn = cross_entropy, generator: torch.Generator | None = None) -> LossFn:
    """``base`` computed with every ordered layer cut to a random prefix: one ``p ~ U(0, 1]`` per step."""
    gen = generator or torch.Generator().manual_seed(0)

    def loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        p = 1.0 - float(torch.rand((), generator=gen))  # in (0, 1]
        set_rank_fraction(model, p)
        try:
            return base(model, x, y)
        finally:
            set_rank_fraction(model, None)

    return loss


def truncated(model: nn.Module, fraction: float) -> nn.Module:
    """A plain copy of ``model`` with each ordered layer truncated to ``ceil(fraction * R)`` components."""
    model = copy.deepcopy(model)
    for name, mod in list(model.named_modules()):
        if isinstance(mod, OrderedLowRank):
            model.set_submodule(name, mod.truncate(max(1, math.ceil(fraction * mod.max_rank))))
    return model.eval()


@dataclass(frozen=True)
class LowRankConfig:
    """Ordered-dropout training, the rank fractions tried at truncation, what truncation may give up on
    the validation split (accuracy, and mean cross-entropy in nats over the full-rank one: digits
    validation accuracy saturates near 100%, so the loss is what tells ranks apart), and the
    fine-tune after truncation."""

    train: EdgeTrainConfig = field(default_factory=lambda: EdgeTrainConfig(epochs=10, lr=1e-3))
    fractions: tuple[float, ...] = (0.0625, 0.125, 0.1875, 0.25, 0.375, 0.5, 0.75, 1.0)
    max_val_drop: float = 0.0
    max_val_loss_rise: float = 0.01
    finetune: EdgeTrainConfig = field(default_factory=lambda: EdgeTrainConfig(epochs=3, lr=3e-4))
    min_rank: int = 16
    fold_batchnorm: bool = True


def lowrank_compress(model: nn.Module, data: DigitsSplit, cfg: LowRankConfig) -> tuple[nn.Module, dict[str, Any]]:
    """Factorise a trained ``model``, train it with ordered dropout, truncate it at the smallest rank
    fraction whose validation accuracy and loss are within ``cfg.max_val_drop`` and
    ``cfg.max_val_loss_rise`` of the full-rank ones, and
    fine-tune. Returns the plain model and the selection record (validation accuracy and loss per
    fraction).

    With ``cfg.fold_batchnorm`` the batch norms are first folded into their convolutions: a batch norm
    behind a layer whose rank changes from step to step would average statistics over all ranks and
    fit none of them (the reason slimmable networks keep one batch norm per width).
    """
    if cfg.fold_batchnorm:
        model = fold_batchnorm(model)
    ordered = to_ordered(model, cfg.min_rank)
    if not ordered_layers(ordered):
        raise ConfigError("the model has no Conv2d or Linear layer large enough to factorise")
    fit(ordered, data, cfg.train, loss_fn=ordered_dropout_loss(generator=torch.Generator().manual_seed(cfg.train.seed)),
        desc="ordered dropout")
    val: dict[float, tuple[float, float]] = {}
    for f in sorted(cfg.fractions):
        set_rank_fraction(ordered, f)
        val[f] = _val_scores(ordered, data)
    set_rank_fraction(ordered, None)
    full_acc, full_loss = _val_scores(ordered, data)
    chosen = min((f for f, (acc, loss) in val.items() if acc >= full_acc - cfg.max_val_drop - 1e-12
                  and loss <= full_loss + cfg.max_val_loss_rise), default=1.0)
    plain = truncated(ordered, chosen)
    if cfg.finetune.epochs > 0:
        fit(plain, data, cfg.finetune, desc="fine-tune")
    return plain.eval(), {"fraction": chosen, "val_acc_by_fraction": {str(k): v[0] for k, v in val.items()},
                          "val_loss_by_fraction": {str(k): v[1] for k, v in val.items()},
                          "val_acc_full_rank": full_acc, "val_loss_full_rank": full_loss}


@torch.no_grad()
def _val_scores(model: nn.Module, data: DigitsSplit) -> tuple[float, float]:
    model.eval()
    logits = model(data.x_val)
    return (float((logits.argmax(1) == data.y_val).float().mean()),
            float(F.cross_entropy(logits, data.y_val)))

