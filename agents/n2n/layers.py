"""The architecture description N2N acts on, the two actions (remove layers, shrink layers) and the
builder that turns a description into a fresh, really smaller PyTorch module.

An :class:`Arch` is a chain of :class:`Layer` units over 1-D signals or 2-D images:

* ``conv``: convolution, batch norm, ReLU;
* ``res``: a residual block (two convolutions with batch norm; a 1x1 projection shortcut when the
  channel count or the stride changes, as in ResNet);
* ``pool``: 2x max pooling;
* ``fc``: linear layer and ReLU (after the spatial layers).

The head between the spatial and the ``fc`` layers is ``flatten`` or ``gap`` (global average pooling),
and a linear classifier always ends the network (it is neither removable nor shrinkable). Every
layer may be removed: the next layer's input channels follow from what is left. A student that
cannot be built (pooling a signal of length 1) raises :class:`InvalidArchitecture`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import torch
from torch import nn

from hwsim.errors import ConfigError

KINDS = ("conv", "res", "pool", "fc")
SHRINKABLE = ("conv", "res", "fc")
SPATIAL = ("conv", "res", "pool")
HEADS = ("flatten", "gap")
FEATURES = ("is_conv", "is_res", "is_pool", "is_fc", "kernel/9", "stride/4", "padding/4", "log2(out+1)/10",
            "log2(in+1)/10", "log2(size+1)/10", "param_share")


class InvalidArchitecture(ConfigError):
    """A student described by an action cannot be built (its reward is -1)."""


@dataclass(frozen=True)
class Layer:
    """One unit of an architecture: ``kind`` (conv, res, pool, fc), output channels or features
    ``out`` (0 for pool), and the kernel, stride and padding of its (first) convolution."""

    kind: str
    out: int = 0
    kernel: int = 3
    stride: int = 1
    padding: int = 1

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"unknown layer kind '{self.kind}'; known: {', '.join(KINDS)}")
        if self.kind in SHRINKABLE and self.out < 1:
            raise ConfigError(f"a {self.kind} layer needs out >= 1, got {self.out}")

    @property
    def shrinkable(self) -> bool:
        """True when the layer has channels or features a shrink factor applies to."""
        return self.kind in SHRINKABLE

    def key(self) -> str:
        """Compact text of the layer, e.g. ``res64k3s2p1``, ``pool``, ``fc128``."""
        if self.kind == "pool":
            return "pool"
        if self.kind == "fc":
            return f"fc{self.out}"
        return f"{self.kind}{self.out}k{self.kernel}s{self.stride}p{self.padding}"


@dataclass(frozen=True)
class Arch:
    """A network: input shape ``(channels, *spatial)``, the layer chain, the head and the class count."""

    in_shape: tuple[int, ...]
    layers: tuple[Layer, ...]
    num_classes: int
    head: str = "flatten"

    def __post_init__(self) -> None:
        if len(self.in_shape) not in (2, 3):
            raise ConfigError(f"in_shape must be (channels, length) or (channels, height, width), got {self.in_shape}")
        if self.head not in HEADS:
            raise ConfigError(f"unknown head '{self.head}'; known: {', '.join(HEADS)}")
        seen_fc = False
        for layer in self.layers:
            if layer.kind == "fc":
                seen_fc = True
            elif seen_fc:
                raise ConfigError(f"layer '{layer.key()}' follows an fc layer; spatial layers must come first")

    @property
    def dims(self) -> int:
        """Number of spatial dimensions (1 for signals, 2 for images)."""
        return len(self.in_shape) - 1

    def __len__(self) -> int:
        return len(self.layers)

    def key(self) -> str:
        """Canonical text of the architecture: equal keys mean equal networks."""
        body = ",".join(layer.key() for layer in self.layers)
        return f"{'x'.join(map(str, self.in_shape))}|{body}|{self.head}|{self.num_classes}"

    def remove(self, keep: Sequence[int | bool]) -> Arch:
        """The architecture with the layers whose ``keep`` entry is false removed."""
        keep = list(keep)
        if len(keep) != len(self.layers):
            raise ConfigError(f"a removal action needs {len(self.layers)} keep flags, got {len(keep)}")
        return replace(self, layers=tuple(layer for layer, k in zip(self.layers, keep) if bool(k)))

    def shrink(self, factors: Sequence[float]) -> Arch:
        """The architecture with each shrinkable layer's width multiplied by its factor (rounded, at least
        1); factors of pool layers are ignored."""
        factors = list(factors)
        if len(factors) != len(self.layers):
            raise ConfigError(f"a shrink action needs {len(self.layers)} factors, got {len(factors)}")
        layers = []
        for layer, f in zip(self.layers, factors):
            if not 0 < float(f) <= 1:
                raise ConfigError(f"shrink factors must be in (0, 1], got {f}")
            if layer.shrinkable:
                layer = replace(layer, out=max(1, int(round(layer.out * float(f)))))
            layers.append(layer)
        return replace(self, layers=tuple(layers))

    def shrinkable_mask(self) -> np.ndarray:
        """Boolean per layer: true where a shrink factor applies."""
        return np.array([layer.shrinkable for layer in self.layers], dtype=bool)

    def to_json(self) -> dict:
        """Plain-JSON form (see :func:`arch_from_json`)."""
        return {"in_shape": list(self.in_shape), "num_classes": self.num_classes, "head": self.head,
                "layers": [{"kind": x.kind, "out": x.out, "kernel": x.kernel, "stride": x.stride,
                            "padding": x.padding} for x in self.layers]}


def arch_from_json(data: dict) -> Arch:
    """Rebuild an :class:`Arch` from :meth:`Arch.to_json` output."""
    try:
        return Arch(tuple(data["in_shape"]), tuple(Layer(**x) for x in data["layers"]), int(data["num_classes"]),
                    data.get("head", "flatten"))
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"malformed architecture description ({exc}); expected the output of Arch.to_json") from exc


# -- shapes, parameter counts and multiply-accumulates -----------------------------------------------

@dataclass(frozen=True)
class LayerCost:
    """What one layer of a built network costs: its input channels and spatial size, parameters and MACs."""

    in_channels: int
    in_size: tuple[int, ...]
    out_size: tuple[int, ...]
    params: int
    macs: int


def _conv_size(size: tuple[int, ...], kernel: int, stride: int, padding: int) -> tuple[int, ...]:
    return tuple((s + 2 * padding - kernel) // stride + 1 for s in size)


def layer_costs(arch: Arch) -> tuple[list[LayerCost], int, int]:
    """Per-layer costs, then the classifier's parameters and MACs; raises :class:`InvalidArchitecture`
    when a spatial size drops below 1."""
    channels, size = arch.in_shape[0], tuple(arch.in_shape[1:])
    costs = []
    flat: int | None = None
    for i, layer in enumerate(arch.layers):
        if layer.kind == "fc" and flat is None:
            flat = _flat(arch, channels, size)
        if layer.kind == "pool":
            out_size = tuple(s // 2 for s in size)
            params = macs = 0
            out_ch = channels
        elif layer.kind == "fc":
            params = flat * layer.out + layer.out
            macs = flat * layer.out
            out_size, out_ch = (), layer.out
            flat = layer.out
        else:
            out_size = _conv_size(size, layer.kernel, layer.stride, layer.padding)
            k = layer.kernel ** arch.dims
            out_pixels = math.prod(out_size) if out_size else 0
            params = channels * layer.out * k + 2 * layer.out
            macs = channels * layer.out * k * out_pixels
            if layer.kind == "res":
                params += layer.out * layer.out * k + 2 * layer.out
                macs += layer.out * layer.out * k * out_pixels
                if channels != layer.out or layer.stride != 1:
                    params += channels * layer.out + 2 * layer.out
                    macs += channels * layer.out * out_pixels
            out_ch = layer.out
        if layer.kind != "fc" and (not out_size or min(out_size) < 1):
            raise InvalidArchitecture(f"layer {i} ({layer.key()}) gets a signal of size {size} and leaves nothing; "
                                      "keep a pooling or strided layer fewer")
        costs.append(LayerCost(channels, size, out_size, params, macs))
        channels, size = out_ch, out_size
    if flat is None:
        flat = _flat(arch, channels, size)
    head_params = flat * arch.num_classes + arch.num_classes
    return costs, head_params, flat * arch.num_classes


def count_params(arch: Arch) -> int:
    """Parameters of the network :func:`build` makes from ``arch`` (batch-norm scale and shift included)."""
    costs, head, _ = layer_costs(arch)
    return sum(c.params for c in costs) + head


def count_macs(arch: Arch) -> int:
    """Multiply-accumulates of the convolutions and linear layers for one sample."""
    costs, _, head = layer_costs(arch)
    return sum(c.macs for c in costs) + head


def layer_features(arch: Arch) -> np.ndarray:
    """The policy's view of each layer, shape ``(len(arch), len(FEATURES))``, values in [0, 1]:
    kind one-hot, kernel, stride, padding, output and input width (log2), input size (log2) and the
    layer's share of the parameters."""
    costs, head, _ = layer_costs(arch)
    total = sum(c.params for c in costs) + head
    rows = []
    for layer, cost in zip(arch.layers, costs):
        kind = [float(layer.kind == k) for k in KINDS]
        spatial = layer.kind in ("conv", "res")
        out = layer.out if layer.kind != "pool" else cost.in_channels
        size = math.prod(cost.in_size) if cost.in_size else 1
        stride = layer.stride if spatial else 2 * (layer.kind == "pool")
        rows.append(kind + [layer.kernel / 9 if spatial else 0.0, stride / 4,
                            layer.padding / 4 if spatial else 0.0, math.log2(out + 1) / 10,
                            math.log2(cost.in_channels + 1) / 10, math.log2(size + 1) / 10, cost.params / total])
    return np.clip(np.asarray(rows, dtype=np.float32).reshape(len(arch), len(FEATURES)), 0.0, 1.0)


# -- the builder ----------------------------------------------------------------------------------

def _conv(dims: int) -> type[nn.Module]:
    return nn.Conv1d if dims == 1 else nn.Conv2d


def _bn(dims: int) -> type[nn.Module]:
    return nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d


def conv_bn(dims: int, c_in: int, c_out: int, kernel: int, stride: int, padding: int,
            relu: bool = True) -> nn.Sequential:
    """Convolution (no bias), batch norm and, when ``relu``, a ReLU: one ``nn.Sequential`` so edge can fold
    the batch norm into the convolution."""
    mods: list[nn.Module] = [_conv(dims)(c_in, c_out, kernel, stride, padding, bias=False), _bn(dims)(c_out)]
    if relu:
        mods.append(nn.ReLU())
    return nn.Sequential(*mods)


class ResidualBlock(nn.Module):
    """``relu(body(x) + shortcut(x))``: body = conv-bn-relu, conv-bn; shortcut = identity, or a strided
    1x1 conv-bn when the channel count or the spatial size changes."""

    def __init__(self, dims: int, c_in: int, c_out: int, kernel: int = 3, stride: int = 1, padding: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_bn(dims, c_in, c_out, kernel, stride, padding),
                                  conv_bn(dims, c_out, c_out, kernel, 1, padding, relu=False))
        self.shortcut = (nn.Identity() if c_in == c_out and stride == 1
                         else conv_bn(dims, c_in, c_out, 1, stride, 0, relu=False))
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block's output: ReLU of body plus shortcut."""
        return self.relu(self.body(x) + self.shortcut(x))


def build(arch: Arch, seed: int = 0) -> nn.Sequential:
    """A freshly initialised network of ``arch`` (PyTorch default initialisation from ``seed``): input
    ``(N, *arch.in_shape)``, output ``(N, num_classes)`` logits."""
    costs, _, _ = layer_costs(arch)  # raises InvalidArchitecture for a network that cannot be built
    dims = arch.dims
    torch.manual_seed(seed)
    mods: list[nn.Module] = []
    channels = arch.in_shape[0]
    headed = False
    for layer, cost in zip(arch.layers, costs):
        if layer.kind == "fc" and not headed:
            mods += _head(arch)
            channels = _flat(arch, channels, cost.in_size)
            headed = True
        if layer.kind == "conv":
            mods.append(conv_bn(dims, channels, layer.out, layer.kernel, layer.stride, layer.padding))
        elif layer.kind == "res":
            mods.append(ResidualBlock(dims, channels, layer.out, layer.kernel, layer.stride, layer.padding))
        elif layer.kind == "pool":
            mods.append((nn.MaxPool1d if dims == 1 else nn.MaxPool2d)(2))
            continue
        else:  # fc
            mods += [nn.Linear(channels, layer.out), nn.ReLU()]
        channels = layer.out
    if not headed:
        mods += _head(arch)
        channels = _flat(arch, channels, costs[-1].out_size if costs else tuple(arch.in_shape[1:]))
    mods.append(nn.Linear(channels, arch.num_classes))
    return nn.Sequential(*mods)


def _flat(arch: Arch, channels: int, size: tuple[int, ...]) -> int:
    return channels * (math.prod(size) if arch.head == "flatten" else 1)


def _head(arch: Arch) -> list[nn.Module]:
    if arch.head == "gap":
        return [(nn.AdaptiveAvgPool1d if arch.dims == 1 else nn.AdaptiveAvgPool2d)(1), nn.Flatten()]
    return [nn.Flatten()]
