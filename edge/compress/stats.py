"""Size and cost of a model: parameter count and multiply-accumulates per sample."""

from __future__ import annotations

import torch
from torch import nn


def count_params(model: nn.Module) -> int:
    """Number of parameters (every element of every parameter tensor, zeros included)."""
    return sum(p.numel() for p in model.parameters())


def count_nonzero(model: nn.Module) -> int:
    """Number of parameters that are not exactly zero (what unstructured pruning reduces)."""
    return sum(int((p != 0).sum()) for p in model.parameters())


@torch.no_grad()
def count_macs(model: nn.Module, example: torch.Tensor) -> int:
    """Multiply-accumulates of the convolutions and linear layers for one sample shaped like ``example[0]``.

    Element-wise layers (activations, batch norm, pooling) are not counted: they are a few percent of
    the work of these models. A wrapper module that holds its conv / linear as ``.layer`` and applies
    its weights itself (the int8 :class:`~edge.compress.quantize.QuantizedLayer`) counts as that layer.
    """
    total = 0

    def hook(mod: nn.Module, _inp: tuple, out: torch.Tensor) -> None:
        nonlocal total
        layer = mod if isinstance(mod, (nn.Conv2d, nn.Linear)) else mod.layer
        if isinstance(layer, nn.Conv2d):
            kh, kw = layer.kernel_size
            total += out[0].numel() * (layer.in_channels // layer.groups) * kh * kw
        else:
            total += out[0].numel() * layer.in_features

    handles = []
    wrapped = {id(m.layer) for m in model.modules() if isinstance(getattr(m, "layer", None), (nn.Conv2d, nn.Linear))}
    for mod in model.modules():
        if isinstance(mod, (nn.Conv2d, nn.Linear)) and id(mod) not in wrapped \
                or isinstance(getattr(mod, "layer", None), (nn.Conv2d, nn.Linear)):
            handles.append(mod.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        model(example[:1])
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total
