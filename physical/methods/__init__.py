"""Training methods with one interface (:class:`physical.methods.base.Method`).

Model-free (no Jacobian of the physical layer, no model of it):

- ``mfff``: forward-forward (PhyLL): greedy layer-local contrastive training on measured features.
- ``local``: a linear classifier head on every block, trained with cross-entropy on measured features
  (greedy layer-local supervision), optionally with a similarity-matching term.
- ``sf``: the single-forward objective of ForwardGNN: every block's output scored against per-class
  vectors (learned, or the class means) with a cross-entropy over cosine similarities.

Model-based baselines: ``pat`` (forward on the device, backward through a fitted digital twin) and
``insilico`` (backprop on the twin alone, deployed on the device).

Peers: ``rf`` (random features: one physical pass of the input and a linear read-out), ``mlp``
(a digital MLP trained by backprop), ``logreg`` (logistic regression), ``digital`` (``mfff`` with the
physical layer off, its ablation).
"""

from __future__ import annotations

from hwsim.errors import ConfigError
from hwsim.resolve import resolve_name

# name -> (module:class, one-line help); imported only when a run needs it
METHODS: dict[str, tuple[str, str]] = {
    "mfff": ("physical.methods.mfff:ForwardForward", "model-free forward-forward on measured features (PhyLL)"),
    "local": ("physical.methods.local:LocalSupervised", "model-free: a cross-entropy head on every block"),
    "sf": ("physical.methods.single_forward:SingleForward",
           "model-free: similarity to per-class vectors on every block (ForwardGNN)"),
    "pat": ("physical.methods.backprop:PhysicsAware", "forward on the device, backward through a digital twin"),
    "insilico": ("physical.methods.backprop:InSilico", "backprop on the digital twin, deployed on the device"),
    "rf": ("physical.methods.random_features:RandomFeatures",
           "peer: one physical pass of the input, linear read-out"),
    "digital": ("physical.methods.mfff:ForwardForward", "forward-forward with the physical layer off (ablation)"),
    "mlp": ("physical.methods.mlp:DigitalMLP", "peer: digital MLP trained by backprop"),
    "logreg": ("physical.methods.random_features:RandomFeatures", "peer: logistic regression on the raw features"),
}
# methods that never touch the device
DIGITAL_ONLY = ("digital", "mlp", "logreg")
# methods that train without any model or Jacobian of the physical layer
MODEL_FREE = ("mfff", "local", "sf")


def method_class(name: str) -> type:
    """The class implementing method ``name``."""
    if name not in METHODS:
        raise ConfigError(f"unknown method '{name}'; choose one of {', '.join(METHODS)}")
    return resolve_name(METHODS[name][0], what="training method")
