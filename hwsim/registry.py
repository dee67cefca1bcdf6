"""Find a device by name: ``reference``, a registered system (``optical``...), or ``module:Class``.

Systems register themselves under the ``hwsim.devices`` entry-point group in ``pyproject.toml``,
so ``hwsim`` never imports the packages that define them until one is asked for.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any, Callable
from urllib.parse import parse_qsl

from hwsim.device import Device
from hwsim.errors import ConfigError

BUILTIN = {"reference": "hwsim.reference:ReferenceDevice"}


def available() -> dict[str, str]:
    """Names of every known device mapped to the ``module:attr`` that builds it."""
    found = dict(BUILTIN)
    for ep in entry_points(group="hwsim.devices"):
        found.setdefault(ep.name, ep.value)
    return found


def _load(target: str) -> Callable[..., Device]:
    module, _, attr = target.partition(":")
    if not attr:
        raise ConfigError(f"'{target}' is not a device name or a 'module:Class' path")
    try:
        obj: Any = importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(f"cannot import '{module}' for device '{target}': {exc}") from exc
    for part in attr.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise ConfigError(f"'{module}' has no '{attr}'")
    return obj


def _coerce(value: str) -> Any:
    low = value.lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    if low in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """Split ``name?key=value&...`` into the name and keyword arguments (numbers and booleans parsed)."""
    name, _, query = spec.partition("?")
    kwargs = {k: _coerce(v) for k, v in parse_qsl(query, keep_blank_values=True)}
    return name, kwargs


def create_device(spec: str, **overrides: Any) -> Device:
    """Build a device from ``name?key=value`` or ``module:Class?key=value``.

    The special keys ``profile`` and ``profile_seed`` wrap the device in a non-ideality profile.
    """
    name, kwargs = parse_spec(spec)
    kwargs.update(overrides)
    profile = kwargs.pop("profile", None)
    profile_seed = kwargs.pop("profile_seed", None)
    known = available()
    target = known.get(name, name if ":" in name else None)
    if target is None:
        raise ConfigError(f"unknown device '{name}'; known devices: {', '.join(sorted(known))} "
                          "(or give a 'module:Class' path)")
    factory = _load(target)
    try:
        device = factory(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"bad options for device '{name}': {exc}") from exc
    if profile is not None:
        from hwsim.nonideal import apply_profile

        device = apply_profile(device, str(profile), seed=0 if profile_seed is None else int(profile_seed))
    return device
