"""Named non-ideality profiles (``ideal``, ``lab``, ``bench``, ``harsh``) and :func:`apply_profile`, which
wraps a device in the models a profile declares, in a fixed physical order."""

from __future__ import annotations

from dataclasses import dataclass

from hwsim.device import Device
from hwsim.errors import ConfigError
from hwsim.nonideal.base import chain, find_clock, find_wrapper
from hwsim.nonideal.clock import SimClock
from hwsim.nonideal.drift import Drift
from hwsim.nonideal.dropout import Dropout
from hwsim.nonideal.latency import Latency
from hwsim.nonideal.noise import Noise
from hwsim.nonideal.perturbation import DEFAULT_KINDS, Perturbation
from hwsim.nonideal.quantisation import Quantisation, effective_bits

__all__ = ["Profile", "PROFILES", "apply_profile", "profile_names", "find_wrapper", "find_clock"]


@dataclass(frozen=True)
class Profile:
    """Every parameter of a non-ideality profile. Fractions of full scale use the span ``hi - lo`` of the
    declared range; times are seconds of simulated time. A model whose parameters are all zero is left out
    of the chain. Derive variants with ``dataclasses.replace(PROFILES["bench"], dropout=0.05)``."""

    name: str
    description: str = ""
    #: converter resolution of the instrument; the coarser of this and the device's declared bits is used
    #: (``None``: the device's declared bits)
    dac_bits: int | None = None
    adc_bits: int | None = None
    #: acquisition time per sample (s): the tick of the measurement time that drift and events run on
    sample_time: float = 1e-3
    #: additive read noise std, fraction of output full scale
    read_noise: float = 0.0
    #: shot-like noise std at a full-scale signal, fraction of output full scale (variance grows with |y|)
    shot_noise: float = 0.0
    #: std of the per-sample multiplicative gain factor common to all channels
    gain_jitter: float = 0.0
    #: stationary std of each output channel's relative gain drift (OU process)
    drift_gain: float = 0.0
    #: stationary std of each output channel's offset drift, fraction of output full scale
    drift_offset: float = 0.0
    #: correlation time of the drift (s)
    drift_tau: float = 600.0
    #: Poisson perturbation events per second of measurement time
    event_rate: float = 0.0
    #: Poisson event mixture: (kind, weight, std of the per-channel jump values)
    event_kinds: tuple[tuple[str, float, float], ...] = DEFAULT_KINDS
    #: keep the perturbation model in the chain even when ``event_rate`` is 0, for trigger()/schedule()
    jumps: bool = False
    #: per-call latency and dead time (s)
    latency: float = 0.0
    dead_time: float = 0.0
    #: probability that a call's reply is lost
    dropout: float = 0.0
    #: field correlation time (s) of the medium of a device that models one (the optical system's
    #: transmission matrix, ``set_decorrelation``); 0: a static medium. Other devices ignore it.
    decorrelation_time: float = 0.0


PROFILES: dict[str, Profile] = {
    "ideal": Profile(
        name="ideal",
        description="DAC/ADC quantisation at the device's declared bits and nothing else"),
    "bench": Profile(
        name="bench",
        description="a good lab bench: 12-bit converters, 0.3% FS read noise, slow drift over minutes, "
                    "about one perturbation per simulated hour, ms latency, no lost replies",
        dac_bits=12, adc_bits=12, sample_time=1e-3,
        read_noise=0.003, shot_noise=0.002, gain_jitter=0.002,
        drift_gain=0.01, drift_offset=0.002, drift_tau=600.0,
        event_rate=1.0 / 3600.0,
        event_kinds=(("output_gain", 0.4, 0.05), ("input_gain", 0.2, 0.02), ("input_offset", 0.2, 0.01),
                     ("crosstalk", 0.2, 0.02)),
        latency=2e-3, dead_time=1e-3, dropout=0.0),
    "lab": Profile(
        name="lab",
        description="a realistic optical lab: 8-bit SLM, 12-bit camera, shot noise of about 1,000 photoelectrons "
                    "in a mean speckle pixel (10,000 at full scale), 5 e- read noise, 0.2% laser power jitter, "
                    "5 ms per row, the medium decorrelating with a 10 h correlation time",
        dac_bits=8, adc_bits=12, sample_time=5e-3,
        read_noise=0.0005, shot_noise=0.01, gain_jitter=0.002,
        decorrelation_time=36000.0),
    "harsh": Profile(
        name="harsh",
        description="a difficult set-up: 8-bit converters, 2% FS read noise, strong drift within a minute, "
                    "about one perturbation per simulated minute, 1% lost replies",
        dac_bits=8, adc_bits=8, sample_time=1e-3,
        read_noise=0.02, shot_noise=0.01, gain_jitter=0.01,
        drift_gain=0.05, drift_offset=0.01, drift_tau=60.0,
        event_rate=1.0 / 60.0,
        event_kinds=(("output_gain", 0.4, 0.2), ("input_gain", 0.2, 0.1), ("input_offset", 0.2, 0.05),
                     ("crosstalk", 0.2, 0.1)),
        latency=10e-3, dead_time=5e-3, dropout=0.01),
}


def profile_names() -> list[str]:
    """Names of the built-in profiles."""
    return list(PROFILES)


def get_profile(name_or_config: str | Profile) -> Profile:
    """The :class:`Profile` named ``name_or_config`` (or the config itself); :class:`ConfigError` if unknown."""
    if isinstance(name_or_config, Profile):
        return name_or_config
    if isinstance(name_or_config, str) and name_or_config.strip().lower() in PROFILES:
        return PROFILES[name_or_config.strip().lower()]
    raise ConfigError(f"unknown non-ideality profile {name_or_config!r}; valid profiles: {', '.join(PROFILES)} "
                      "(or pass a hwsim.nonideal.Profile)")


def apply_profile(device: Device, name_or_config: str | Profile, seed: int = 0) -> Device:
    """Wrap ``device`` in the models of a profile and return the outermost wrapper.

    The order is the signal path: DAC -> [input jumps] -> device -> drift -> [output jumps, crosstalk] ->
    noise -> ADC -> latency -> dropped replies, i.e. the chain
    ``Dropout(Latency(Quantisation(Noise(Perturbation(Drift(device))))))`` with the zero models left out.
    All clocked models share one :class:`SimClock`; each model draws from its own stream of ``seed``. A
    ``decorrelation_time`` is handed to the innermost device's ``set_decorrelation(tau, clock, seed=seed)``
    when it has one (the medium changes on the same clock).
    Find a model in the result with ``find_wrapper(dev, Perturbation)`` (e.g. to ``trigger`` a jump).
    """
    cfg = get_profile(name_or_config)
    clock = SimClock(cfg.sample_time)
    if cfg.decorrelation_time > 0:  # a property of the medium: the innermost device models it, if it can
        decorrelate = getattr(list(chain(device))[-1], "set_decorrelation", None)
        if callable(decorrelate):
            decorrelate(cfg.decorrelation_time, clock, seed=seed)
    dev = device
    if cfg.drift_gain > 0 or cfg.drift_offset > 0:
        dev = Drift(dev, gain_std=cfg.drift_gain, offset_std=cfg.drift_offset, tau=cfg.drift_tau, clock=clock,
                    seed=seed)
    if cfg.event_rate > 0 or cfg.jumps:
        dev = Perturbation(dev, rate=cfg.event_rate, kinds=cfg.event_kinds, clock=clock, seed=seed)
    if cfg.read_noise > 0 or cfg.shot_noise > 0 or cfg.gain_jitter > 0:
        dev = Noise(dev, read=cfg.read_noise, shot=cfg.shot_noise, jitter=cfg.gain_jitter, seed=seed)
    dev = Quantisation(dev, dac_bits=effective_bits(device.info.dac_bits, cfg.dac_bits),
                       adc_bits=effective_bits(device.info.adc_bits, cfg.adc_bits))
    if cfg.latency > 0 or cfg.dead_time > 0 or find_clock(dev) is not None:
        dev = Latency(dev, latency=cfg.latency, dead_time=cfg.dead_time, clock=clock)
    if cfg.dropout > 0:
        dev = Dropout(dev, p=cfg.dropout, seed=seed)
    return dev
