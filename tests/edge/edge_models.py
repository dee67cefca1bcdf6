"""Small models for the edge compile-path tests, and cached compiles shared between test files."""

from __future__ import annotations

from functools import cache

import numpy as np
import torch
from torch import nn


class SmallCNN(nn.Module):
    """A digits-sized CNN (1x8x8 in, 10 out)."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 16, 3, padding=1)
        self.fc = nn.Linear(16 * 2 * 2, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.max_pool2d(torch.relu(self.c1(x)), 2)
        x = nn.functional.max_pool2d(torch.relu(self.c2(x)), 2)
        return self.fc(x.flatten(1))


class LastStep(nn.Module):
    """Classifies the last time step of a sequence with negative indexing (miscompiled by TVM 0.27)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x[:, -1])


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4)).eval()


def cnn() -> nn.Module:
    torch.manual_seed(1)
    return SmallCNN().eval()


def mlp_factory() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    """``module:factory`` entry for the CLI tests."""
    return mlp(), (torch.randn(1, 16),)


def to_onnx(model: nn.Module, example: torch.Tensor, path: str, dynamic: bool = False) -> str:
    """Export with the TorchScript-based exporter (no onnxscript needed)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), path, dynamo=False, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}} if dynamic else None)
    return path


def reference(model: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


@cache
def compiled_cnn_host():
    """(model, compiled) for the CNN on the host, compiled once per test session."""
    import edge

    model = cnn()
    return model, edge.compile_model(model, (torch.randn(1, 1, 8, 8),), target="host", num_threads=1)
