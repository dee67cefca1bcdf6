"""Real architectures for the zoo bench, built without downloading weights: constructors of the
torchvision families written here (torchvision 0.28 on PyPI links CUDA torch and does not load beside the
CPU torch 2.13 wheel), Hugging Face encoders from a small configuration, and ONNX files written the older
way (IR 3, initializers as inputs). :data:`ARCHITECTURES` names each one; :func:`build` makes it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from edge.architectures.densenet import densenet121
from edge.architectures.efficientnet import efficientnet_b0
from edge.architectures.legacy import LIGHT_MODELS, export_old_style, light_model_path, randomized_light_model
from edge.architectures.mobilenet import mobilenet_v2
from edge.architectures.resnet import resnet18, resnet50
from edge.architectures.shufflenet import shufflenet_v2
from edge.architectures.squeezenet import squeezenet1_1
from edge.architectures.transformers_hf import bert_encoder, vit_encoder
from edge.architectures.vgg import vgg11
from hwsim.errors import ConfigError


@dataclass(frozen=True)
class Architecture:
    """One zoo entry: how it is built and where it comes from."""

    name: str
    family: str
    source: str  # "constructor" | "transformers" | "onnx-ir3"
    description: str


@dataclass
class ZooModel:
    """A built zoo entry: the PyTorch module and example input (``None`` for ONNX-only entries) and the
    ONNX file when the entry is one (else the bench exports the module)."""

    arch: Architecture
    module: nn.Module | None
    example: torch.Tensor
    onnx_path: Path | None = None


def randomized_batchnorm(model: nn.Module, seed: int = 0) -> nn.Module:
    """``model`` with every batch norm given random statistics and affine parameters (a freshly built
    network has mean 0, variance 1, scale 1, shift 0, which makes batch norm an identity no trained
    model has)."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
            with torch.no_grad():
                m.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(c, generator=gen) * 0.1)
    return model.eval()


_CNNS: dict[str, tuple[str, Callable[[], nn.Module], str]] = {
    "resnet18": ("resnet", resnet18, "ResNet-18, basic blocks"),
    "resnet50": ("resnet", resnet50, "ResNet-50, bottlenecks"),
    "mobilenet_v2": ("mobilenet", mobilenet_v2, "MobileNetV2 1.0, inverted residuals, depthwise"),
    "squeezenet1_1": ("squeezenet", squeezenet1_1, "SqueezeNet 1.1, fire modules, ceil-mode pools"),
    "shufflenet_v2": ("shufflenet", shufflenet_v2, "ShuffleNet V2 x1.0, channel split and shuffle"),
    "efficientnet_b0": ("efficientnet", efficientnet_b0, "EfficientNet-B0, MBConv, squeeze-excite, SiLU"),
    "densenet121": ("densenet", densenet121, "DenseNet-121, dense blocks"),
    "vgg11": ("vgg", vgg11, "VGG-11, plain 3x3 convolutions and large dense layers"),
}
_LIGHT_DESC = {"bvlc_alexnet": "AlexNet (BVLC), LRN, Dropout", "densenet121": "DenseNet-121",
               "inception_v1": "Inception v1 (GoogLeNet), LRN", "inception_v2": "Inception v2, batch norm",
               "resnet50": "ResNet-50 (Caffe2), n-ary Sum", "shufflenet": "ShuffleNet v1, n-ary Sum",
               "squeezenet": "SqueezeNet 1.0, Dropout", "vgg19": "VGG-19, Dropout", "zfnet512": "ZFNet-512, LRN"}

ARCHITECTURES: dict[str, Architecture] = {
    **{name: Architecture(name, fam, "constructor", desc) for name, (fam, _, desc) in _CNNS.items()},
    "bert": Architecture("bert", "transformer", "transformers", "BERT encoder, 4 layers, hidden 256, 128 tokens"),
    "vit": Architecture("vit", "transformer", "transformers", "ViT encoder, 4 layers, ViT-Tiny width, 224x224"),
    "resnet18_ir3": Architecture("resnet18_ir3", "resnet", "onnx-ir3",
                                 "ResNet-18 exported the old way: opset 9, IR 3, initializers as inputs"),
    **{f"onnx_{n}": Architecture(f"onnx_{n}", n, "onnx-ir3", f"{_LIGHT_DESC[n]}: classic zoo file (onnx wheel)")
       for n in LIGHT_MODELS},  # the shipped files' constant weights replaced by seeded random ones
}


def build(name: str, workdir: Path, resolution: int = 224, seed: int = 0) -> ZooModel:
    """Build zoo entry ``name`` (random weights from ``seed``); ONNX files it writes go to ``workdir``."""
    if name not in ARCHITECTURES:
        raise ConfigError(f"unknown zoo architecture '{name}'; known: {', '.join(ARCHITECTURES)}")
    arch = ARCHITECTURES[name]
    torch.manual_seed(seed)
    image = torch.randn(1, 3, resolution, resolution, generator=torch.Generator().manual_seed(seed))
    if name in _CNNS:
        return ZooModel(arch, randomized_batchnorm(_CNNS[name][1](), seed), image)
    if name == "bert":
        model, ids = bert_encoder()
        return ZooModel(arch, model, ids)
    if name == "vit":
        model, x = vit_encoder(image=resolution)
        return ZooModel(arch, model, x)
    if name == "resnet18_ir3":
        module = randomized_batchnorm(resnet18(), seed)
        return ZooModel(arch, module, image, export_old_style(module, image, workdir / f"{name}.onnx"))
    light_name = name.removeprefix("onnx_")
    light = light_model_path(light_name)
    if not light.is_file():
        raise ConfigError(f"the installed onnx package does not ship {light.name}; pip install onnx>=1.15")
    weighted = randomized_light_model(light_name, workdir / f"{name}.onnx", seed)
    return ZooModel(arch, None, torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(seed)), weighted)
