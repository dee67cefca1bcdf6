"""MobileNetV2 (Sandler et al., 2018) as torchvision defines it (width 1.0), with random weights."""

from __future__ import annotations

import torch
from torch import nn


def conv_bn_relu6(c_in: int, c_out: int, kernel: int, stride: int, groups: int = 1) -> nn.Sequential:
    """Convolution ('same' padding), batch norm, ReLU6."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    """1x1 expansion, 3x3 depthwise, 1x1 linear projection; a residual when the shape is kept."""

    def __init__(self, c_in: int, c_out: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = c_in * expand
        layers = [conv_bn_relu6(c_in, hidden, 1, 1)] if expand != 1 else []
        layers += [conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden),
                   nn.Conv2d(hidden, c_out, 1, bias=False), nn.BatchNorm2d(c_out)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block (or network) applied to ``x``."""
        return x + self.body(x) if self.residual else self.body(x)


# (expansion, channels, repeats, stride) per stage
SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


class MobileNetV2(nn.Module):
    """Stem, 17 inverted residual blocks, 1x1 convolution to 1280, global pool, dropout, classifier."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        layers, c_in = [conv_bn_relu6(3, 32, 3, 2)], 32
        for t, c, n, s in SETTINGS:
            for i in range(n):
                layers.append(InvertedResidual(c_in, c, s if i == 0 else 1, t))
                c_in = c
        layers.append(conv_bn_relu6(c_in, 1280, 1, 1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block (or network) applied to ``x``."""
        return self.classifier(nn.functional.adaptive_avg_pool2d(self.features(x), 1).flatten(1))


def mobilenet_v2(classes: int = 1000) -> MobileNetV2:
    """MobileNetV2 (width 1.0), 0.3 GFLOPs at 224x224."""
    return MobileNetV2(classes)
