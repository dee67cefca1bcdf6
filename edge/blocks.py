"""Layer blocks shared by the reference models (:mod:`edge.zoo`) and the multi-exit networks
(:mod:`edge.dynamic`)."""

from __future__ import annotations

from torch import nn


def conv_bn_relu(c_in: int, c_out: int) -> list[nn.Module]:
    """A 3x3 'same' convolution, batch norm and ReLU."""
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
