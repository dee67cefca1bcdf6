"""EfficientNet-B0 (Tan & Le, 2019) as torchvision defines it, with random weights: MBConv blocks with
squeeze-and-excitation and SiLU."""

from __future__ import annotations

import math

import torch
from torch import nn


def conv_bn_silu(c_in: int, c_out: int, kernel: int, stride: int, groups: int = 1, act: bool = True) -> nn.Sequential:
    """Convolution ('same' padding), batch norm, and SiLU unless ``act`` is False."""
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(c_out)]
    if act:
        layers.append(nn.SiLU(inplace=True))
    return nn.Sequential(*layers)


class SqueezeExcite(nn.Module):
    """Channel attention: global pool, 1x1 reduce (SiLU), 1x1 expand (sigmoid), rescale."""

    def __init__(self, channels: int, squeezed: int) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, squeezed, 1)
        self.expand = nn.Conv2d(squeezed, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` scaled per channel."""
        s = nn.functional.adaptive_avg_pool2d(x, 1)
        return x * torch.sigmoid(self.expand(nn.functional.silu(self.reduce(s))))


class MBConv(nn.Module):
    """Expansion (1x1), depthwise (k x k), squeeze-excite, projection (1x1); residual when shapes match
    (stochastic depth is the identity at inference)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = c_in * expand
        layers: list[nn.Module] = [conv_bn_silu(c_in, hidden, 1, 1)] if expand != 1 else []
        layers += [conv_bn_silu(hidden, hidden, kernel, stride, groups=hidden),
                   SqueezeExcite(hidden, max(1, c_in // 4)), conv_bn_silu(hidden, c_out, 1, 1, act=False)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block applied to ``x``."""
        return x + self.body(x) if self.residual else self.body(x)


# (expansion, kernel, stride, channels in, channels out, repeats) of B0
B0 = [(1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
      (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1)]


class EfficientNet(nn.Module):
    """Stem, the MBConv stages of B0, a 1x1 convolution to 1280, global pool, dropout, classifier."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv_bn_silu(3, 32, 3, 2)]
        for t, k, s, c_in, c_out, n in B0:
            for i in range(n):
                layers.append(MBConv(c_in if i == 0 else c_out, c_out, k, s if i == 0 else 1, t))
        layers.append(conv_bn_silu(320, 1280, 1, 1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, classes))
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.Linear):
                bound = 1.0 / math.sqrt(m.out_features)
                nn.init.uniform_(m.weight, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits of ``x``."""
        return self.classifier(nn.functional.adaptive_avg_pool2d(self.features(x), 1).flatten(1))


def efficientnet_b0(classes: int = 1000) -> EfficientNet:
    """EfficientNet-B0, 0.39 GFLOPs at 224x224."""
    return EfficientNet(classes)
