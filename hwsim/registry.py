"""Find a device by name: ``reference``, a registered system (``optical``...), or, with an explicit opt-in,
``module:Class``.

Systems register themselves under the ``hwsim.devices`` entry-point group in ``pyproject.toml``,
so ``hwsim`` never imports the packages that define them until one is asked for. A device spec that
comes from a URL (``sim://...``), a config file or a checkpoint names registered devices only:
:func:`create_device` imports an arbitrary ``module:Class`` only when its caller passes
``allow_import=True`` (the ``--allow-import`` flag of ``hwsim serve``, ``probe`` and ``demo``).
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any
from urllib.parse import parse_qsl

from hwsim.device import Device
from hwsim.errors import ConfigError, HwsimError
from hwsim.nonideal import apply_profile
from hwsim.resolve import is_import_path, resolve_name

BUILTIN = {"reference": "hwsim.reference:ReferenceDevice"}


def available() -> dict[str, str]:
    """Names of every known device mapped to the ``module:attr`` that builds it."""
    found = dict(BUILTIN)
    for ep in entry_points(group="hwsim.devices"):
        found.setdefault(ep.name, ep.value)
    return found


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


def create_device(spec: str, *, allow_import: bool = False, **overrides: Any) -> Device:
    """Build a device from ``name?key=value`` (a registered name, see :func:`available`), or from
    ``module:Class?key=value`` when ``allow_import=True``; query values become keyword arguments.

    The special keys ``profile`` and ``profile_seed`` wrap the device in a non-ideality profile.
    Without ``allow_import`` a ``module:attr`` name is refused with a :class:`ConfigError` and nothing is
    imported, so a spec from a URL, a config file or a checkpoint cannot run code.
    """
    name, kwargs = parse_spec(spec)
    kwargs.update(overrides)
    profile = kwargs.pop("profile", None)
    profile_seed = kwargs.pop("profile_seed", None)
    known = available()
    if name in known:
        factory = resolve_name(known[name], what="device")  # registered: our table or an installed entry point
    elif is_import_path(name):
        factory = resolve_name(name, what="device", allow_import=allow_import)
    else:
        raise ConfigError(f"unknown device '{name}'; known devices: {', '.join(sorted(known))} "
                          "(or a 'module:Class' path, with allow_import=True / --allow-import)")
    if not callable(factory):
        raise ConfigError(f"device '{name}' names {type(factory).__name__} object, not a class or factory")
    try:
        device = factory(**kwargs)
    except HwsimError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad options for device '{name}': {exc}") from exc
    if not isinstance(device, Device):
        raise ConfigError(f"device '{name}' built a {type(device).__name__}, not a hwsim Device")
    if profile is not None:
        device = apply_profile(device, str(profile), seed=0 if profile_seed is None else int(profile_seed))
    return device
