"""Reference models of the edge benchmarks and their training on scikit-learn digits.

Three architectures, all taking images shaped (N, 1, 8, 8):

* ``mlp``: flatten, two hidden ReLU layers, 10 logits;
* ``cnn`` (the "digits CNN"): three 3x3 convolutions with batch norm, two max-pools, a linear
  classifier; deliberately wider than digits needs, so structured pruning has something to remove;
* ``ee_cnn``: a multi-exit CNN (:class:`edge.dynamic.MultiExitNet`) with a cheap first stage and a
  costly last one, trained with a loss at every exit.

Trained weights are cached under ``hwsim.data.cache_dir("edge-zoo")`` by a hash of the spec
(architecture, training hyperparameters, data seed and a code version), so a second call loads them.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from torch import nn

from edge.blocks import conv_bn_relu
from edge.compress.stats import count_macs, count_params
from edge.compress.surgery import rebuild_to_state
from edge.digits import DigitsSplit, digits_split
from edge.dynamic import build_ee_cnn, exit_accuracies, multi_exit_loss
from edge.train import EdgeTrainConfig, accuracy, cross_entropy, fit
from hwsim.data import cache_dir
from hwsim.errors import ConfigError

CACHE_VERSION = 1
NUM_CLASSES = 10

# full-size architectures and the small ones used by quick runs and tests
ARCHS: dict[str, dict[str, Any]] = {
    "mlp": {"hidden": [256, 256]},
    "cnn": {"widths": [64, 128, 256]},
    "ee_cnn": {"widths": [16, 32, 128, 256], "exit_weights": [0.5, 0.7, 1.0]},
}
QUICK_ARCHS: dict[str, dict[str, Any]] = {
    "mlp": {"hidden": [64, 64]},
    "cnn": {"widths": [16, 32, 64]},
    "ee_cnn": {"widths": [8, 16, 32, 64], "exit_weights": [0.5, 0.7, 1.0]},
}
EPOCHS = {"mlp": 30, "cnn": 20, "ee_cnn": 20}
QUICK_EPOCHS = 2


def build_mlp(hidden: list[int] | tuple[int, ...] = (256, 256), in_features: int = 64) -> nn.Sequential:
    """Flatten, ``len(hidden)`` Linear+ReLU layers, and a 10-way linear classifier."""
    layers: list[nn.Module] = [nn.Flatten()]
    for width in hidden:
        layers += [nn.Linear(in_features, width), nn.ReLU()]
        in_features = width
    return nn.Sequential(*layers, nn.Linear(in_features, NUM_CLASSES))


def build_cnn(widths: list[int] | tuple[int, ...] = (64, 128, 256)) -> nn.Sequential:
    """The digits CNN: conv(w0) at 8x8, conv(w1) at 8x8, pool, conv(w2) at 4x4, pool, linear on 2x2xw2."""
    w0, w1, w2 = widths
    return nn.Sequential(*conv_bn_relu(1, w0), *conv_bn_relu(w0, w1), nn.MaxPool2d(2),
                         *conv_bn_relu(w1, w2), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(w2 * 4, NUM_CLASSES))


@dataclass(frozen=True)
class ZooSpec:
    """Everything that determines a trained reference model."""

    name: str
    arch: Mapping[str, Any]
    train: EdgeTrainConfig = field(default_factory=EdgeTrainConfig)
    data_seed: int = 0

    def key(self) -> dict[str, Any]:
        """The spec as plain JSON-able data: what the cache key of the trained weights hashes."""
        return {"name": self.name, "arch": dict(self.arch), "train": asdict(self.train), "data_seed": self.data_seed}


def zoo_spec(name: str, quick: bool = False, seed: int = 0, epochs: int | None = None) -> ZooSpec:
    """The standard spec of reference model ``name`` (``quick``: small and briefly trained)."""
    if name not in ARCHS:
        raise ConfigError(f"unknown reference model '{name}'; known: {', '.join(ARCHS)}")
    arch = (QUICK_ARCHS if quick else ARCHS)[name]
    n_epochs = epochs if epochs is not None else (QUICK_EPOCHS if quick else EPOCHS[name])
    return ZooSpec(name, dict(arch), EdgeTrainConfig(epochs=n_epochs, seed=seed), data_seed=seed)


def build(spec: ZooSpec) -> nn.Module:
    """An untrained model of ``spec``'s architecture (initialised from the training seed)."""
    torch.manual_seed(spec.train.seed)
    if spec.name == "mlp":
        return build_mlp(spec.arch["hidden"])
    if spec.name == "cnn":
        return build_cnn(spec.arch["widths"])
    if spec.name == "ee_cnn":
        return build_ee_cnn(spec.arch["widths"])
    raise ConfigError(f"unknown reference model '{spec.name}'; known: {', '.join(ARCHS)}")


def loss_for(spec: ZooSpec) -> Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]:
    """The training loss of ``spec``: cross-entropy, weighted over every exit for ``ee_cnn``."""
    if spec.name == "ee_cnn":
        return multi_exit_loss(spec.arch["exit_weights"])
    return cross_entropy


@dataclass
class Trained:
    """A trained model with its spec, metrics (accuracies, size, cost, training time) and cache file."""

    model: nn.Module
    spec: ZooSpec
    metrics: dict[str, Any]
    path: Path


def cache_path(kind: str, key: Mapping[str, Any]) -> Path:
    """File of the model cached under ``kind`` and a hash of ``key`` (plus the code version)."""
    digest = hashlib.sha256(json.dumps({"v": CACHE_VERSION, **key}, sort_keys=True, default=str).encode())
    return cache_dir("edge-zoo") / f"{kind}-{digest.hexdigest()[:16]}.pt"


def describe(model: nn.Module, data: DigitsSplit) -> dict[str, Any]:
    """Validation and test accuracy, parameter count and MACs per sample of ``model``."""
    return {"val_acc": accuracy(model, data.x_val, data.y_val), "test_acc": accuracy(model, data.x_test, data.y_test),
            "params": count_params(model), "macs": count_macs(model, data.x_test)}


def cached_module(kind: str, key: Mapping[str, Any], make: Callable[[], tuple[nn.Module, dict[str, Any]]],
                  template: Callable[[dict[str, Any]], nn.Module], refresh: bool = False
                  ) -> tuple[nn.Module, dict[str, Any]]:
    """Load a model (and its metrics) cached under ``kind`` and a hash of ``key``, or ``make`` and cache it.

    Only the state dict is stored; ``template(metrics)`` builds the layer structure it is loaded into,
    and layers are resized to the stored shapes (so shrunk and factorised models restore without
    pickling code).
    """
    path = cache_path(kind, key)
    if path.exists() and not refresh:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        return rebuild_to_state(template(blob["metrics"]), blob["state_dict"]), dict(blob["metrics"])
    model, metrics = make()
    tmp = path.with_suffix(".tmp")
    torch.save({"state_dict": model.state_dict(), "metrics": metrics, "key": json.loads(json.dumps(key, default=str))},
               tmp)
    tmp.replace(path)
    return model.eval(), metrics


def trained(spec: ZooSpec | str, data: DigitsSplit | None = None, refresh: bool = False) -> Trained:
    """The reference model of ``spec`` trained on digits: from the cache, or trained now and cached."""
    if isinstance(spec, str):
        spec = zoo_spec(spec)
    split = data if data is not None else digits_split(spec.data_seed)
    if split.seed != spec.data_seed:
        raise ConfigError(f"data split seed {split.seed} differs from the spec's data_seed {spec.data_seed}")

    def make() -> tuple[nn.Module, dict[str, Any]]:
        model = build(spec)
        start = time.perf_counter()
        fit(model, split, spec.train, loss_fn=loss_for(spec), desc=f"train {spec.name}")
        metrics = {"train_seconds": time.perf_counter() - start, **describe(model, split)}
        if spec.name == "ee_cnn":
            metrics["exit_test_acc"] = exit_accuracies(model, split.x_test, split.y_test)
        return model, metrics

    model, metrics = cached_module(spec.name, spec.key(), make, lambda _metrics: build(spec), refresh=refresh)
    return Trained(model, spec, metrics, cache_path(spec.name, spec.key()))


def with_epochs(spec: ZooSpec, epochs: int) -> ZooSpec:
    """``spec`` with a different number of training epochs."""
    return replace(spec, train=replace(spec.train, epochs=epochs))
