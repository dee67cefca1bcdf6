"""VGG-11 (Simonyan & Zisserman, 2015) as torchvision defines it (configuration A, no batch norm), with
random weights."""

from __future__ import annotations

from torch import nn

VGG11 = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]


def vgg11(classes: int = 1000) -> nn.Sequential:
    """VGG-11: eight 3x3 convolutions, five max pools, three fully connected layers (7.6 GFLOPs)."""
    layers: list[nn.Module] = []
    c = 3
    for v in VGG11:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(c, int(v), 3, padding=1), nn.ReLU(inplace=True)]
            c = int(v)
    layers += [nn.AdaptiveAvgPool2d(7), nn.Flatten(), nn.Linear(512 * 49, 4096), nn.ReLU(inplace=True), nn.Dropout(),
               nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(), nn.Linear(4096, classes)]
    return nn.Sequential(*layers)
