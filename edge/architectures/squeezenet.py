"""SqueezeNet 1.1 (Iandola et al., 2016) as torchvision defines it, with random weights."""

from __future__ import annotations

import torch
from torch import nn


class Fire(nn.Module):
    """1x1 squeeze, then 1x1 and 3x3 expands concatenated."""

    def __init__(self, c_in: int, squeeze: int, e1: int, e3: int) -> None:
        super().__init__()
        self.squeeze = nn.Sequential(nn.Conv2d(c_in, squeeze, 1), nn.ReLU(inplace=True))
        self.e1 = nn.Sequential(nn.Conv2d(squeeze, e1, 1), nn.ReLU(inplace=True))
        self.e3 = nn.Sequential(nn.Conv2d(squeeze, e3, 3, padding=1), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block (or network) applied to ``x``."""
        x = self.squeeze(x)
        return torch.cat([self.e1(x), self.e3(x)], 1)


def squeezenet1_1(classes: int = 1000) -> nn.Sequential:
    """SqueezeNet 1.1: 0.35 GFLOPs at 224x224; ceil-mode max pools, a 1x1 convolution classifier."""
    pool = dict(kernel_size=3, stride=2, ceil_mode=True)
    return nn.Sequential(
        nn.Conv2d(3, 64, 3, 2), nn.ReLU(inplace=True), nn.MaxPool2d(**pool),
        Fire(64, 16, 64, 64), Fire(128, 16, 64, 64), nn.MaxPool2d(**pool),
        Fire(128, 32, 128, 128), Fire(256, 32, 128, 128), nn.MaxPool2d(**pool),
        Fire(256, 48, 192, 192), Fire(384, 48, 192, 192), Fire(384, 64, 256, 256), Fire(512, 64, 256, 256),
        nn.Dropout(0.5), nn.Conv2d(512, classes, 1), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten())
