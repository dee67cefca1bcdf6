"""ResNet-18 and ResNet-50 (He et al., 2016) as torchvision defines them (v1.5: stride on the 3x3
convolution of a bottleneck), with random weights."""

from __future__ import annotations

import torch
from torch import nn


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity (or 1x1 projection) shortcut."""

    expansion = 1

    def __init__(self, c_in: int, width: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.down = _projection(c_in, width, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block (or network) applied to ``x``."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (self.down(x) if self.down is not None else x))


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided), 1x1 expand by 4, with batch norms and a shortcut."""

    expansion = 4

    def __init__(self, c_in: int, width: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, width * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width * 4)
        self.relu = nn.ReLU(inplace=True)
        self.down = _projection(c_in, width * 4, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block (or network) applied to ``x``."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (self.down(x) if self.down is not None else x))


def _projection(c_in: int, c_out: int, stride: int) -> nn.Module | None:
    if stride == 1 and c_in == c_out:
        return None
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))


class ResNet(nn.Module):
    """Stem (7x7/2 convolution, 3x3/2 max pool), four stages, global average pool, classifier."""

    def __init__(self, block: type, layers: list[int], classes: int = 1000) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
                                  nn.MaxPool2d(3, 2, 1))
        stages, c_in = [], 64
        for k, n in enumerate(layers):
            width = 64 * 2 ** k
            blocks = []
            for i in range(n):
                blocks.append(block(c_in, width, 2 if (i == 0 and k > 0) else 1))
                c_in = width * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c_in, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block (or network) applied to ``x``."""
        return self.fc(self.pool(self.stages(self.stem(x))).flatten(1))


def resnet18(classes: int = 1000) -> ResNet:
    """ResNet-18: basic blocks (2, 2, 2, 2), 1.8 GFLOPs at 224x224."""
    return ResNet(BasicBlock, [2, 2, 2, 2], classes)


def resnet50(classes: int = 1000) -> ResNet:
    """ResNet-50: bottlenecks (3, 4, 6, 3), 4.1 GFLOPs at 224x224."""
    return ResNet(Bottleneck, [3, 4, 6, 3], classes)
