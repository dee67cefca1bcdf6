"""DenseNet-121 (Huang et al., 2017) as torchvision defines it, with random weights."""

from __future__ import annotations

import torch
from torch import nn


class DenseLayer(nn.Module):
    """BN-ReLU-1x1 (4 x growth) then BN-ReLU-3x3 (growth), its output concatenated to its input."""

    def __init__(self, c_in: int, growth: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.BatchNorm2d(c_in), nn.ReLU(inplace=True),
                                  nn.Conv2d(c_in, 4 * growth, 1, bias=False), nn.BatchNorm2d(4 * growth),
                                  nn.ReLU(inplace=True),
                                  nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` with the layer's new feature maps appended."""
        return torch.cat([x, self.body(x)], 1)


def _transition(c_in: int) -> nn.Sequential:
    return nn.Sequential(nn.BatchNorm2d(c_in), nn.ReLU(inplace=True), nn.Conv2d(c_in, c_in // 2, 1, bias=False),
                         nn.AvgPool2d(2, 2))


def densenet121(classes: int = 1000) -> nn.Sequential:
    """DenseNet-121: dense blocks of (6, 12, 24, 16) layers, growth 32, 2.9 GFLOPs at 224x224."""
    layers: list[nn.Module] = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
                               nn.MaxPool2d(3, 2, 1)]
    c = 64
    for k, n in enumerate((6, 12, 24, 16)):
        for _ in range(n):
            layers.append(DenseLayer(c, 32))
            c += 32
        if k < 3:
            layers.append(_transition(c))
            c //= 2
    layers += [nn.BatchNorm2d(c), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, classes)]
    return nn.Sequential(*layers)
