"""The physical-local-learning block ``y = W [P(h); h] + b`` (or ``W P(h) + b`` without the skip
path) and the physical layer ``P`` behind it.

``P`` is a :class:`hwsim.Device` seen only through ``Device.measure``: numpy in, numpy out. Before a
measurement the block input is mapped into [0, 1] (``input_map``), then padded with zero drive and,
when it is longer than the device input, cut into chunks of the device's input size that are measured
as separate rows of one batch (time multiplexing); their outputs are concatenated. Padding after the
map keeps every padding pixel at the same drive whatever the sample. With ``passes > 1`` each chunk is
measured ``passes`` times, each time with the device inputs in another fixed order (pass 0: as is),
which gives a ``passes`` times wider feature vector from the same device. With ``physical=False`` a
block is just ``y = W h + b``: the ablation.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hwsim.device import Device
from hwsim.errors import ConfigError, TransientDeviceError


def _unit(h: torch.Tensor) -> torch.Tensor:
    """``|h| / ||h||``: non-negative, unit length (PhyLL acoustic); values in [0, 1]."""
    return h.abs() / (h.norm(dim=1, keepdim=True) + 1e-6)


def _minmax(h: torch.Tensor) -> torch.Tensor:
    """``(h - min) / (max - min)`` per row (PhyLL microwave); values in [0, 1]."""
    lo = h.min(dim=1, keepdim=True).values
    hi = h.max(dim=1, keepdim=True).values
    return (h - lo) / (hi - lo + 1e-6)


def _peak(h: torch.Tensor) -> torch.Tensor:
    """``|h| / max|h|`` per row: non-negative, largest entry at full scale; values in [0, 1]."""
    a = h.abs()
    return a / (a.max(dim=1, keepdim=True).values + 1e-6)


def _signed(h: torch.Tensor) -> torch.Tensor:
    """``(1 + h / max|h|) / 2`` per row: sign kept, zero at mid-scale; values in [0, 1]."""
    return 0.5 + 0.5 * h / (h.abs().max(dim=1, keepdim=True).values + 1e-6)


INPUT_MAPS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "unit": _unit, "minmax": _minmax, "peak": _peak, "signed": _signed}
# "auto": the map each system's reference uses (PhyLL drives the acoustic cavity with |h|/||h||); any
# other system gets min-max, which spans the whole drive range (the full phase range of an SLM)
AUTO_INPUT_MAP = {"acoustic": "unit"}


def resolve_input_map(name: str, device_name: str) -> str:
    """The input map ``name`` stands for on a device called ``device_name`` (``auto`` picks per system)."""
    if name == "auto":
        return AUTO_INPUT_MAP.get(device_name, "minmax")
    if name not in INPUT_MAPS:
        raise ConfigError(f"unknown input map '{name}'; choose auto or one of {', '.join(INPUT_MAPS)}")
    return name


class PhysicalLayer:
    """The fixed transform ``P``: maps a batch of activations into drive values and measures them.

    ``input_map`` (``auto`` or one of :data:`INPUT_MAPS`) turns each row into values in [0, 1], which are
    padded with zeros to a whole number of chunks, then scaled linearly onto the device's
    ``input_range``. Rows longer than the device input are split into ``chunks(dim)`` pieces; each piece
    is measured ``passes`` times with the device inputs permuted by a fixed permutation per pass.
    """

    retries = 5  # repeats of a request whose reply was lost (TransientDeviceError)

    def __init__(self, device: Device, input_map: str = "auto", passes: int = 1) -> None:
        info = device.info
        if passes < 1:
            raise ConfigError(f"passes must be at least 1, got {passes}")
        self.device = device
        self.input_map = resolve_input_map(input_map, info.name)
        self.n_in = info.input_size
        self.n_out = info.output_size
        self.lo, self.hi = (float(v) for v in info.input_range)
        self.passes = int(passes)
        # pass k shows the chunk with the device inputs in a fixed order: a fixed property of the network
        self.orders = [torch.arange(self.n_in)] + [
            torch.from_numpy(np.random.default_rng([k, 0x9A55]).permutation(self.n_in)) for k in range(1, passes)]

    def chunks(self, dim: int) -> int:
        """How many device rows one sample of ``dim`` activations needs in one pass."""
        return max(1, math.ceil(dim / self.n_in))

    def rows(self, dim: int) -> int:
        """Device rows one sample of ``dim`` activations costs: ``passes x chunks``."""
        return self.passes * self.chunks(dim)

    def out_features(self, dim: int) -> int:
        """Number of measured values one sample of ``dim`` activations yields."""
        return self.rows(dim) * self.n_out

    def drive(self, h: torch.Tensor) -> torch.Tensor:
        """The device input for activations ``h`` of shape ``(B, dim)``: ``(B * rows(dim), n_in)`` in range.

        Differentiable in ``h`` (the digital twin's path uses it); the device itself never sees a tensor.
        """
        c = self.chunks(h.shape[1])
        v = INPUT_MAPS[self.input_map](h)
        pad = c * self.n_in - h.shape[1]
        if pad:
            v = torch.cat([v, v.new_zeros(h.shape[0], pad)], dim=1)
        v = v.reshape(h.shape[0], c, self.n_in)
        if self.passes > 1:
            v = torch.stack([v[..., order] for order in self.orders], dim=1)  # (B, passes, chunks, n_in)
        return (self.lo + (self.hi - self.lo) * v).reshape(-1, self.n_in)

    def measure_drive(self, drive: torch.Tensor | np.ndarray) -> np.ndarray:
        """Measure device rows ``(R, n_in)`` on the device; returns ``(R, n_out)`` float32."""
        d = drive.detach().cpu().numpy() if isinstance(drive, torch.Tensor) else np.asarray(drive)
        d = np.clip(d, self.lo, self.hi).reshape(d.shape[0], *self.device.info.input_shape)
        for attempt in range(self.retries + 1):
            try:
                y = self.device.measure(d)
                break
            except TransientDeviceError:  # a lost reply: repeating the request is safe (and counted)
                if attempt == self.retries:
                    raise
        return np.asarray(y, dtype=np.float32).reshape(d.shape[0], self.n_out)

    def measure(self, h: torch.Tensor) -> torch.Tensor:
        """``P(h)`` measured on the device, as a constant tensor ``(B, out_features(dim))``."""
        with torch.no_grad():
            drive = self.drive(h.detach())
        y = self.measure_drive(drive)
        return torch.from_numpy(y).reshape(h.shape[0], -1)

    def through_twin(self, h: torch.Tensor, twin: nn.Module) -> torch.Tensor:
        """``P(h)`` predicted by a differentiable digital twin of the device, ``(B, out_features(dim))``."""
        return twin(self.drive(h)).reshape(h.shape[0], -1)


class PLLBlock(nn.Module):
    """One block ``y = W [P(h); h] + b`` (``skip=False``: ``W P(h) + b``; ``W h + b`` when ``phys_features``
    is 0): only ``W, b`` train. ``normalise`` standardises each sample's measured features (zero mean,
    unit variance over the features) before ``W``: a fixed digital step with no parameters."""

    def __init__(self, in_features: int, out_features: int, phys_features: int, skip: bool = True,
                 normalise: bool = False) -> None:
        super().__init__()
        self.in_features = in_features
        self.phys_features = phys_features
        self.skip = skip or not phys_features  # without P the direct path is all there is
        self.normalise = normalise
        self.linear = nn.Linear(phys_features + (in_features if self.skip else 0), out_features)

    def forward(self, h: torch.Tensor, p: torch.Tensor | None) -> torch.Tensor:
        """Block output for input ``h`` and its physical features ``p`` (``None`` when physical is off)."""
        if self.phys_features:
            if p is None:
                raise ConfigError("this block was built with a physical layer; pass its measured features")
            if self.normalise:
                p = F.layer_norm(p, p.shape[1:])
            h = torch.cat([p, h], dim=1) if self.skip else p
        return self.linear(h)


def build_blocks(in_features: int, width: int, layers: int, phys: PhysicalLayer | None, skip: bool = True,
                 normalise: bool = False) -> nn.ModuleList:
    """``layers`` blocks: the first takes ``in_features`` activations, every block outputs ``width``."""
    if layers < 1 or width < 1:
        raise ConfigError(f"need at least one layer of width >= 1 (got layers={layers}, width={width})")
    blocks = []
    dim = in_features
    for _ in range(layers):
        blocks.append(PLLBlock(dim, width, phys.out_features(dim) if phys is not None else 0, skip, normalise))
        dim = width
    return nn.ModuleList(blocks)
