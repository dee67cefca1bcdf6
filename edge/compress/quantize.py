"""Post-training static int8 quantisation: per-output-channel symmetric int8 weights and per-tensor
asymmetric uint8 activations at the input of every convolution and linear layer, calibrated on
sample data by their min / max.

:func:`quantize_int8` returns a plain ``nn.Module`` that simulates the integer arithmetic with
float operations (round, clamp, scale): it goes through the same TVM compile path as every other
model. Relax in TVM 0.27 would run an int8 model exactly like that, quantise / dequantise around
float32 kernels (its ONNX frontend legalises QDQ nodes that way too), so compiled int8 is *not*
faster than float32 there. :func:`export_qdq_onnx` writes the same quantised model as a QDQ ONNX
graph (QuantizeLinear / DequantizeLinear pairs), which ONNX Runtime fuses into real int8 kernels.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from hwsim.errors import ConfigError
from edge.ort import export_onnx

ACT_QMIN, ACT_QMAX = 0, 255      # uint8 activations
W_QMAX = 127                     # symmetric int8 weights in -127..127


class QuantizedLayer(nn.Module):
    """A Conv2d or Linear whose input is quantised to uint8 and whose weight holds int8 values times a
    per-output-channel scale. ``qdq_ops=True`` (for ONNX export) expresses both with torch's
    fake-quantise operators, which export as QuantizeLinear / DequantizeLinear; otherwise with plain
    round / clamp arithmetic that every compiler handles. Both compute the same numbers."""

    def __init__(self, layer: nn.Conv2d | nn.Linear, act_min: float, act_max: float) -> None:
        super().__init__()
        if isinstance(layer, nn.Conv2d) and layer.groups != 1:
            raise ConfigError("int8 quantisation here supports groups=1 convolutions only")
        lo, hi = min(float(act_min), 0.0), max(float(act_max), 0.0)
        scale = max((hi - lo) / (ACT_QMAX - ACT_QMIN), 1e-8)
        self.layer = copy.deepcopy(layer)
        self.act_scale = scale
        self.act_zero = int(min(max(round(ACT_QMIN - lo / scale), ACT_QMIN), ACT_QMAX))
        w = layer.weight.detach()
        w_scale = w.flatten(1).abs().amax(1).clamp_min(1e-12) / W_QMAX
        self.register_buffer("w_scale", w_scale.float())
        with torch.no_grad():
            shape = (-1,) + (1,) * (w.dim() - 1)
            codes = torch.clamp(torch.round(w / w_scale.view(shape)), -W_QMAX, W_QMAX)
            self.layer.weight.copy_(codes * w_scale.view(shape))
        self.qdq_ops = False

    def quantize_input(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` rounded to the uint8 grid of this layer's input and mapped back to floats."""
        if self.qdq_ops:
            return torch.fake_quantize_per_tensor_affine(x, self.act_scale, self.act_zero, ACT_QMIN, ACT_QMAX)
        inv = 1.0 / self.act_scale
        q = torch.clamp(torch.round(x * inv) + self.act_zero, ACT_QMIN, ACT_QMAX)
        return (q - self.act_zero) * self.act_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The layer on the quantised input with the int8 weights."""
        x = self.quantize_input(x)
        w = self.layer.weight
        if self.qdq_ops:  # weights already sit on the -127..127 grid: this only makes the graph say "int8"
            zeros = torch.zeros(self.w_scale.shape[0], dtype=torch.int32)
            w = torch.fake_quantize_per_channel_affine(w, self.w_scale, zeros, 0, -128, 127)  # ONNX's int8 range
        if isinstance(self.layer, nn.Linear):
            return F.linear(x, w, self.layer.bias)
        c = self.layer
        return F.conv2d(x, w, c.bias, c.stride, c.padding, c.dilation)


@torch.no_grad()
def quantize_int8(model: nn.Module, calibration: torch.Tensor) -> nn.Module:
    """A copy of ``model`` (eval mode; fold batch norm first for the usual deployment form) with every
    Conv2d and Linear replaced by a :class:`QuantizedLayer` calibrated on the batch ``calibration``."""
    model = copy.deepcopy(model).eval()
    targets = {name: mod for name, mod in model.named_modules() if isinstance(mod, (nn.Conv2d, nn.Linear))}
    if not targets:
        raise ConfigError("the model has no Conv2d or Linear layer to quantise")
    ranges: dict[str, tuple[float, float]] = {}

    def observer(name: str):
        def hook(_mod: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
            x = inputs[0]
            lo, hi = ranges.get(name, (float("inf"), float("-inf")))
            ranges[name] = (min(lo, float(x.min())), max(hi, float(x.max())))
        return hook

    handles = [mod.register_forward_pre_hook(observer(name)) for name, mod in targets.items()]
    try:
        model(calibration)
    finally:
        for h in handles:
            h.remove()
    for name, mod in targets.items():
        model.set_submodule(name, QuantizedLayer(mod, *ranges[name]))
    return model


def export_qdq_onnx(model: nn.Module, example: torch.Tensor, path: str | Path, dynamic_batch: bool = True) -> Path:
    """Write a model from :func:`quantize_int8` as a QDQ ONNX file (input ``x``, output ``y``)."""
    layers = [m for m in model.modules() if isinstance(m, QuantizedLayer)]
    if not layers:
        raise ConfigError("export_qdq_onnx needs a model from quantize_int8 (it has no QuantizedLayer)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for m in layers:
        m.qdq_ops = True
    try:
        export_onnx(model, example, path, dynamic_batch=dynamic_batch)
    finally:
        for m in layers:
            m.qdq_ops = False
    return path

