"""Model surgery shared by the compression methods: layers re-created at new sizes, and a model
rebuilt from a state dict whose layer sizes differ from its template's."""

from __future__ import annotations

import copy
from typing import Mapping

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from hwsim.errors import NotSupportedError

RESIZABLE = (nn.Conv2d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d)


def resized(module: nn.Module, in_size: int | None, out_size: int) -> nn.Module:
    """A fresh layer like ``module`` (same kernel, stride, padding, bias, ...) with new channel counts.

    ``in_size`` is ignored for batch norm, whose size is ``out_size``.
    """
    if isinstance(module, nn.Conv2d):
        if module.groups != 1:
            raise NotSupportedError(f"cannot resize a grouped convolution ({module}); only groups=1 is supported")
        return nn.Conv2d(in_size, out_size, module.kernel_size, module.stride, module.padding, module.dilation,
                         bias=module.bias is not None, padding_mode=module.padding_mode)
    if isinstance(module, nn.Linear):
        return nn.Linear(in_size, out_size, bias=module.bias is not None)
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        return type(module)(out_size, eps=module.eps, momentum=module.momentum, affine=module.affine,
                            track_running_stats=module.track_running_stats)
    raise NotSupportedError(f"cannot resize a {type(module).__name__}; resizable layers: Conv2d, Linear, BatchNorm")


def rebuild_to_state(template: nn.Module, state: Mapping[str, torch.Tensor]) -> nn.Module:
    """Resize the layers of ``template`` to the shapes found in ``state`` and load it (strictly).

    This is how a shrunk or factorised model is restored from a cached state dict: build the same
    architecture at its original sizes, then let the weights say how big each layer now is.
    """
    for name, mod in list(template.named_modules()):
        if not isinstance(mod, RESIZABLE) or f"{name}.weight" not in state:
            continue
        weight = state[f"{name}.weight"]
        if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            if weight.shape[0] != mod.num_features:
                template.set_submodule(name, resized(mod, None, weight.shape[0]))
        elif tuple(weight.shape) != tuple(mod.weight.shape):
            template.set_submodule(name, resized(mod, weight.shape[1], weight.shape[0]))
    template.load_state_dict(state, strict=True)
    return template.eval()


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` (in eval mode) with each BatchNorm2d that directly follows a Conv2d inside a
    ``nn.Sequential`` folded into that convolution's weights and bias: the deployment form every
    backend receives."""
    model = copy.deepcopy(model).eval()
    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        names = list(seq._modules)
        for a, b in zip(names, names[1:]):
            conv, bn = seq._modules[a], seq._modules[b]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                seq._modules[a] = fuse_conv_bn_eval(conv, bn)
                seq._modules[b] = nn.Identity()
    return model
