"""What every non-ideality wrapper shares: a seeded RNG per model, chain-wide state save/restore,
and helpers that walk a wrapped chain (``find_wrapper``, ``find_clock``)."""

from __future__ import annotations

import zlib
from typing import Any, Iterator, Mapping, TypeVar

import numpy as np

from hwsim.device import Device, DeviceWrapper
from hwsim.errors import ConfigError

T = TypeVar("T")
_MISSING: Any = object()


def seeded_rng(seed: int, tag: str) -> np.random.Generator:
    """A numpy Generator for the model named ``tag`` under ``seed``; each tag gets its own stream,
    so adding or removing one model never shifts another model's random numbers."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    return np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(tag.encode())]))


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    """The generator's state as plain (JSON-ready) Python values."""
    return dict(rng.bit_generator.state)


def set_rng_state(rng: np.random.Generator, state: Mapping[str, Any]) -> None:
    """Restore a state saved by :func:`rng_state`."""
    rng.bit_generator.state = dict(state)


def check_nonneg(what: str, value: float, unit: str = "") -> float:
    """``value`` as a float, or :class:`ConfigError` when it is negative or not finite."""
    v = float(value)
    if not np.isfinite(v) or v < 0:
        raise ConfigError(f"{what} must be a finite number >= 0{' (' + unit + ')' if unit else ''}, got {value!r}")
    return v


def full_scale(value_range: tuple[float, float]) -> float:
    """Full-scale span ``hi - lo`` of a converter range: the unit of every 'fraction of full scale'."""
    lo, hi = value_range
    return float(hi) - float(lo)


class NonIdealWrapper(DeviceWrapper):
    """Base of every non-ideality model: a :class:`DeviceWrapper` whose state can be saved and restored.

    :meth:`state_dict` covers this wrapper and everything it wraps (plain Python values, JSON-ready),
    so saving the outermost wrapper of a profiled device checkpoints the whole chain. Measurement
    counters are not part of the state: they are the caller's cost accounting.
    """

    def _state(self) -> dict[str, Any]:
        """This wrapper's own state (override in stateful models)."""
        return {}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        """Restore this wrapper's own state (override in stateful models)."""

    def state_dict(self) -> dict[str, Any]:
        """The state of this wrapper and of every wrapper (or stateful device) inside it."""
        d: dict[str, Any] = {"type": type(self).__name__, "state": self._state()}
        inner_state = getattr(self.inner, "state_dict", None)
        if callable(inner_state):
            d["inner"] = inner_state()
        return d

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a state saved by :meth:`state_dict` from a chain built the same way."""
        if not isinstance(state, Mapping) or state.get("type") != type(self).__name__:
            got = state.get("type") if isinstance(state, Mapping) else type(state).__name__
            raise ConfigError(f"state was saved from a '{got}' wrapper, not '{type(self).__name__}': "
                              "rebuild the device with the same profile before loading its state")
        self._load_state(state["state"])
        inner_load = getattr(self.inner, "load_state_dict", None)
        if "inner" in state:
            if not callable(inner_load):
                raise ConfigError(f"state has an inner part but '{type(self.inner).__name__}' cannot load state: "
                                  "rebuild the device with the same profile before loading its state")
            inner_load(state["inner"])


def chain(device: Device) -> Iterator[Device]:
    """The devices of a wrapped chain, outermost first, ending with the unwrapped device."""
    dev: Device | None = device
    while dev is not None:
        yield dev
        dev = dev.inner if isinstance(dev, DeviceWrapper) else None


def find_wrapper(device: Device, cls: type[T], default: Any = _MISSING) -> T:
    """The outermost wrapper in ``device``'s chain that is a ``cls``; ``default`` (if given) when there is
    none, else :class:`ConfigError`."""
    for dev in chain(device):
        if isinstance(dev, cls):
            return dev
    if default is not _MISSING:
        return default
    names = " -> ".join(type(d).__name__ for d in chain(device))
    raise ConfigError(f"device chain {names} has no {cls.__name__} wrapper; apply a profile that includes it "
                      "(see hwsim.nonideal.profile_names()) or wrap the device yourself")


def find_clock(device: Device) -> Any:
    """The simulated clock used by ``device``'s chain, or ``None`` when no wrapper keeps one."""
    for dev in chain(device):
        clock = getattr(dev, "clock", None)
        if clock is not None:
            return clock
    return None
