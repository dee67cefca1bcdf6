"""The teacher zoo: networks that train in minutes on 2 CPU cores and leave N2N something to compress.

========  ========  =========================================================================
model     dataset   architecture
========  ========  =========================================================================
cnn       digits    conv32 conv64 pool conv128 pool | flatten | fc256 | 10   (~0.23 M parameters)
cnn       mnist1d   conv32k5 conv64 pool conv128 pool conv128 pool | flatten | fc256 | 10
resnet    digits    conv16 res16 res16 res32/2 res32 res64/2 res64 | global avg pool | 10 (~0.17 M;
                    a ResNet-14: 13 convolutions and the classifier)
resnet    mnist1d   the same chain over 1-D signals with a 5-wide stem
resnet20  digits    conv16 3x res16 res32/2 2x res32 res64/2 2x res64 | global avg pool | 10 (~0.27 M;
                    He et al.'s CIFAR ResNet-20: 19 convolutions and the classifier)
resnet20  mnist1d   the same chain over 1-D signals with a 5-wide stem
========  ========  =========================================================================

``quick=True`` gives the same chains at a quarter of the width, trained for 8 epochs (tests and
smoke runs). Trained weights are cached under ``hwsim.data.cache_dir("n2n-teachers")`` by a hash of
the spec, so only the first call trains.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import torch
from torch import nn

from agents.n2n.data import DATASETS, load_split
from agents.n2n.layers import Arch, Layer, arch_from_json, build, count_macs, count_params
from edge.digits import DigitsSplit
from edge.train import TrainConfig, accuracy, fit
from hwsim.data import cache_dir
from hwsim.errors import ConfigError

CACHE_VERSION = 1
MODELS = ("cnn", "resnet", "resnet20")
IN_SHAPES = {"digits": (1, 8, 8), "mnist1d": (1, 40)}
EPOCHS = {("cnn", "digits"): 20, ("resnet", "digits"): 20, ("cnn", "mnist1d"): 30, ("resnet", "mnist1d"): 30,
          ("resnet20", "digits"): 20, ("resnet20", "mnist1d"): 30}
QUICK_EPOCHS = 8


def teacher_arch(model: str, dataset: str, width: float = 1.0) -> Arch:
    """The teacher architecture ``model`` (cnn, resnet, resnet20) for ``dataset`` (digits, mnist1d),
    widths scaled by ``width``."""
    if dataset not in DATASETS:
        raise ConfigError(f"unknown data set '{dataset}'; known: {', '.join(DATASETS)}")

    def w(n: int) -> int:
        return max(2, int(round(n * width)))

    if model == "cnn":
        stem = Layer("conv", w(32), 3, 1, 1) if dataset == "digits" else Layer("conv", w(32), 5, 1, 2)
        if dataset == "digits":
            layers = [stem, Layer("conv", w(64)), Layer("pool"), Layer("conv", w(128)), Layer("pool"),
                      Layer("fc", w(256))]
        else:
            layers = [stem, Layer("conv", w(64)), Layer("pool"), Layer("conv", w(128)), Layer("pool"),
                      Layer("conv", w(128)), Layer("pool"), Layer("fc", w(256))]
        return Arch(IN_SHAPES[dataset], tuple(layers), 10, "flatten")
    if model == "resnet":
        stem = Layer("conv", w(16), 3, 1, 1) if dataset == "digits" else Layer("conv", w(16), 5, 1, 2)
        layers = [stem, Layer("res", w(16)), Layer("res", w(16)), Layer("res", w(32), stride=2), Layer("res", w(32)),
                  Layer("res", w(64), stride=2), Layer("res", w(64))]
        return Arch(IN_SHAPES[dataset], tuple(layers), 10, "gap")
    if model == "resnet20":  # He et al.'s CIFAR ResNet-20: 3 stages of 3 blocks of 2 convs, stem, classifier
        stem = Layer("conv", w(16), 3, 1, 1) if dataset == "digits" else Layer("conv", w(16), 5, 1, 2)
        layers = [stem]
        for stage, channels in enumerate((16, 32, 64)):
            layers += [Layer("res", w(channels), stride=2 if stage and block == 0 else 1) for block in range(3)]
        return Arch(IN_SHAPES[dataset], tuple(layers), 10, "gap")
    raise ConfigError(f"unknown teacher model '{model}'; known: {', '.join(MODELS)}")


@dataclass(frozen=True)
class TeacherSpec:
    """Everything that determines a trained teacher: model, data set, architecture, training, data seed."""

    model: str
    dataset: str
    arch: Arch
    train: TrainConfig = field(default_factory=TrainConfig)
    data_seed: int = 0

    def key(self) -> dict[str, Any]:
        """The spec as plain JSON data (what the cache file name hashes)."""
        return {"v": CACHE_VERSION, "model": self.model, "dataset": self.dataset, "arch": self.arch.to_json(),
                "train": asdict(self.train), "data_seed": self.data_seed}

    def digest(self) -> str:
        """Short hash of :meth:`key`."""
        return hashlib.sha256(json.dumps(self.key(), sort_keys=True).encode()).hexdigest()[:16]

    @property
    def name(self) -> str:
        """``<model>-<dataset>``, e.g. ``resnet-digits``."""
        return f"{self.model}-{self.dataset}"


def teacher_spec(model: str = "resnet", dataset: str = "digits", quick: bool = False, seed: int = 0,
                 epochs: int | None = None) -> TeacherSpec:
    """The standard spec of a zoo teacher (``quick``: quarter width, 8 epochs)."""
    arch = teacher_arch(model, dataset, 0.25 if quick else 1.0)
    n_epochs = epochs if epochs is not None else (QUICK_EPOCHS if quick else EPOCHS[(model, dataset)])
    return TeacherSpec(model, dataset, arch, TrainConfig(epochs=n_epochs, seed=seed), data_seed=seed)


@dataclass
class Teacher:
    """A trained teacher, its data split and metrics (val_acc, test_acc, params, macs, train_seconds)."""

    spec: TeacherSpec
    model: nn.Module
    data: DigitsSplit
    metrics: dict[str, Any]
    path: Path

    @property
    def arch(self) -> Arch:
        """The teacher's architecture."""
        return self.spec.arch

    @cached_property
    def train_logits(self) -> torch.Tensor:
        """The teacher's logits on the training inputs: the regression targets of distillation."""
        with torch.no_grad():
            self.model.eval()
            return torch.cat([self.model(self.data.x_train[i:i + 512]) for i in range(0, len(self.data.x_train), 512)])


def cache_file(spec: TeacherSpec) -> Path:
    """Where the weights of ``spec`` are cached."""
    return cache_dir("n2n-teachers") / f"{spec.name}-{spec.digest()}.pt"


def load_teacher(spec: TeacherSpec | None = None, refresh: bool = False, **kwargs: Any) -> Teacher:
    """The trained teacher of ``spec`` (or of ``teacher_spec(**kwargs)``): loaded from the cache, or trained
    now (seconds to a few minutes on 2 cores) and cached."""
    spec = spec if spec is not None else teacher_spec(**kwargs)
    data = load_split(spec.dataset, spec.data_seed)
    path = cache_file(spec)
    if path.exists() and not refresh:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if arch_from_json(blob["arch"]) != spec.arch:
            raise ConfigError(f"teacher cache {path} holds another architecture; delete it to retrain")
        model = build(spec.arch)
        model.load_state_dict(blob["state_dict"])
        return Teacher(spec, model.eval(), data, dict(blob["metrics"]), path)
    model = build(spec.arch, seed=spec.train.seed)
    start = time.perf_counter()
    fit(model, data, spec.train, desc=f"teacher {spec.name}")
    metrics = {"train_seconds": time.perf_counter() - start, "val_acc": accuracy(model, data.x_val, data.y_val),
               "test_acc": accuracy(model, data.x_test, data.y_test), "params": count_params(spec.arch),
               "macs": count_macs(spec.arch)}
    tmp = path.with_suffix(".tmp")
    torch.save({"state_dict": model.state_dict(), "metrics": metrics, "arch": spec.arch.to_json(),
                "key": spec.key()}, tmp)
    tmp.replace(path)
    return Teacher(spec, model.eval(), data, metrics, path)

