"""ShuffleNet V2 x1.0 (Ma et al., 2018) as torchvision defines it, with random weights."""

from __future__ import annotations

import torch
from torch import nn


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave the channels of ``groups`` groups (reshape, transpose, reshape)."""
    n, c, h, w = x.shape
    return x.reshape(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class ShuffleUnit(nn.Module):
    """A ShuffleNet V2 unit: split (or, strided, two downsampling branches), convolve, concatenate,
    shuffle."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        half = c_out // 2
        if stride > 1:
            self.left = nn.Sequential(nn.Conv2d(c_in, c_in, 3, stride, 1, groups=c_in, bias=False),
                                      nn.BatchNorm2d(c_in), nn.Conv2d(c_in, half, 1, bias=False),
                                      nn.BatchNorm2d(half), nn.ReLU(inplace=True))
        right_in = c_in if stride > 1 else half
        self.right = nn.Sequential(nn.Conv2d(right_in, half, 1, bias=False), nn.BatchNorm2d(half),
                                   nn.ReLU(inplace=True),
                                   nn.Conv2d(half, half, 3, stride, 1, groups=half, bias=False),
                                   nn.BatchNorm2d(half), nn.Conv2d(half, half, 1, bias=False),
                                   nn.BatchNorm2d(half), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The unit applied to ``x``."""
        if self.stride == 1:
            a, b = x.chunk(2, dim=1)
            out = torch.cat([a, self.right(b)], 1)
        else:
            out = torch.cat([self.left(x), self.right(x)], 1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(nn.Module):
    """Stem, three stages of units (4, 8, 4), a 1x1 convolution to 1024, global pool, classifier."""

    def __init__(self, widths: tuple[int, ...] = (24, 116, 232, 464, 1024), classes: int = 1000) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, 2, 1, bias=False), nn.BatchNorm2d(widths[0]),
                                  nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
        units, c_in = [], widths[0]
        for c_out, repeats in zip(widths[1:4], (4, 8, 4)):
            for i in range(repeats):
                units.append(ShuffleUnit(c_in, c_out, 2 if i == 0 else 1))
                c_in = c_out
        self.stages = nn.Sequential(*units)
        self.head = nn.Sequential(nn.Conv2d(c_in, widths[4], 1, bias=False), nn.BatchNorm2d(widths[4]),
                                  nn.ReLU(inplace=True))
        self.fc = nn.Linear(widths[4], classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits of ``x``."""
        return self.fc(self.head(self.stages(self.stem(x))).mean((2, 3)))


def shufflenet_v2(classes: int = 1000) -> ShuffleNetV2:
    """ShuffleNet V2 x1.0, 0.15 GFLOPs at 224x224."""
    return ShuffleNetV2(classes=classes)
