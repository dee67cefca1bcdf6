"""Non-ideality models: wrappers that make any :class:`hwsim.Device` behave like a real lab instrument.

Seeded and reproducible, on a simulated clock, with named profiles (``ideal``, ``bench``, ``harsh``)::

    from hwsim.nonideal import apply_profile, find_wrapper, Perturbation
    dev = apply_profile(device, "bench", seed=0)
    find_wrapper(dev, Perturbation).trigger("output_gain", 0.2)

See ``docs/nonideal.md``.
"""

from hwsim.nonideal.base import NonIdealWrapper, chain, find_clock, find_wrapper
from hwsim.nonideal.clock import SimClock
from hwsim.nonideal.drift import Drift
from hwsim.nonideal.dropout import Dropout
from hwsim.nonideal.latency import Latency
from hwsim.nonideal.noise import Noise
from hwsim.nonideal.perturbation import KINDS, Event, Perturbation
from hwsim.nonideal.profiles import PROFILES, Profile, apply_profile, get_profile, profile_names
from hwsim.nonideal.quantisation import Quantisation, effective_bits

__all__ = ["NonIdealWrapper", "SimClock", "Quantisation", "Noise", "Drift", "Perturbation", "Event", "KINDS",
           "Latency", "Dropout", "Profile", "PROFILES", "apply_profile", "get_profile", "profile_names",
           "find_wrapper", "find_clock", "chain", "effective_bits"]
