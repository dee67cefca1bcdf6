"""The peers every physical result is shown beside, built from the run's own config (same data set,
split, seed and validation split):

- ``ablation``: the same network and training with the physical layer off (``mfff`` -> ``digital``;
  ``pat``/``insilico`` -> plain backprop of the same blocks; ``local``/``sf`` -> the same local
  training of the blocks without ``P``, i.e. a linear network);
- ``rf``: random features, one physical pass of the input (with the run's passes) and a linear
  read-out whose L2 strength is chosen on the validation split -- the ceiling of a linear read-out of
  one pass of the same device;
- ``mlp-matched``: a digital 2-hidden-layer ReLU MLP with as many digital parameters as the physical
  network, trained by backprop;
- ``mlp-2x256``: the usual digital 2x256 ReLU MLP, trained by backprop;
- ``logreg``: logistic regression on the raw features.

The MLPs are trained properly: Adam at ``bp_lr``, batches of ``bp_batch_size``, up to
:data:`MLP_EPOCHS` epochs with early stopping on the run's validation split (when it has none, the
run's own number of epochs and no early stopping).
"""

from __future__ import annotations

import math
from dataclasses import replace

from physical.config import PhysicalTrainConfig

PEERS = ("ablation", "rf", "mlp-matched", "mlp-2x256", "logreg")
MLP_EPOCHS = 100
MLP_PATIENCE = 15


def matched_hidden(params: int, n_features: int, n_classes: int) -> int:
    """The width ``w`` of a ``n_features -> w -> w -> n_classes`` MLP whose parameter count
    ``w^2 + (n_features + n_classes + 2) w + n_classes`` is closest to ``params`` (at least 1)."""
    b = n_features + n_classes + 2
    w = (-b + math.sqrt(b * b + 4 * max(0, params - n_classes))) / 2
    candidates = {max(1, math.floor(w)), max(1, math.ceil(w))}
    return min(candidates, key=lambda v: abs(v * v + b * v + n_classes - params))


def mlp_config(cfg: PhysicalTrainConfig, hidden: str) -> PhysicalTrainConfig:
    """A digital MLP peer of ``cfg`` with hidden widths ``hidden``, trained by backprop to convergence."""
    long = cfg.val_fraction > 0
    return replace(cfg, method="mlp", physical=False, mlp_hidden=hidden, lr_schedule="constant",
                   epochs=max(cfg.epochs, MLP_EPOCHS) if long else cfg.epochs,
                   patience=(cfg.patience or MLP_PATIENCE) if long else 0, name=None)


def ablation_config(cfg: PhysicalTrainConfig) -> PhysicalTrainConfig:
    """The physical-off twin of a run (``pat`` and ``insilico`` share one: plain backpropagation)."""
    off = cfg.ablation()
    return replace(off, method="pat") if off.method == "insilico" else off


def peer_configs(cfg: PhysicalTrainConfig, digital_params: int, n_features: int, n_classes: int
                 ) -> dict[str, PhysicalTrainConfig]:
    """The five peers of ``cfg`` (see the module docstring); ``digital_params`` is the physical
    network's count of trained digital parameters, which the matched MLP gets too."""
    w = matched_hidden(digital_params, n_features, n_classes)
    return {
        "ablation": ablation_config(cfg),
        "rf": replace(cfg, method="rf", name=None),
        "mlp-matched": mlp_config(cfg, f"{w},{w}"),
        "mlp-2x256": mlp_config(cfg, "256,256"),
        "logreg": replace(cfg, method="logreg", physical=False, name=None),
    }
