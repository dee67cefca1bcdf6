"""Training methods with one interface (:class:`physical.methods.base.Method`).

- ``mfff``: model-free forward-forward (PhyLL): greedy layer-local training on measured features.
- ``pat``: physics-aware training: forward on the device, backward through a fitted digital twin.
- ``insilico``: backpropagation on the digital twin alone, then deployed on the device.
- ``digital``: ``mfff`` with the physical layer switched off (the ablation).
- ``logreg``: logistic regression on the raw features (no network, no device).
"""

from __future__ import annotations

# name -> (module:class, one-line help); imported only when a run needs it
METHODS: dict[str, tuple[str, str]] = {
    "mfff": ("physical.methods.mfff:ForwardForward", "model-free forward-forward on measured features"),
    "pat": ("physical.methods.backprop:PhysicsAware", "forward on the device, backward through a digital twin"),
    "insilico": ("physical.methods.backprop:InSilico", "backprop on the digital twin, deployed on the device"),
    "digital": ("physical.methods.mfff:ForwardForward", "forward-forward with the physical layer off (ablation)"),
    "logreg": ("physical.methods.logreg:LogisticRegressionMethod", "logistic regression on the raw features"),
}
# methods that never touch the device
DIGITAL_ONLY = ("digital", "logreg")


def method_class(name: str) -> type:
    """The class implementing method ``name``."""
    import importlib

    from hwsim.errors import ConfigError

    if name not in METHODS:
        raise ConfigError(f"unknown method '{name}'; choose one of {', '.join(METHODS)}")
    module, _, cls = METHODS[name][0].partition(":")
    return getattr(importlib.import_module(module), cls)
