"""The one place that turns a ``module:attr`` string into a Python object.

Only code the caller wrote may call it with a string it chose itself (a command table, a method
table) or with a string a user gave together with an explicit opt-in (``allow_import=True``, or a CLI
flag that sets it). A URL, a config file, a checkpoint or a handshake names registered things only;
passing such text here without the opt-in raises :class:`~hwsim.errors.ConfigError` and imports
nothing.
"""

from __future__ import annotations

import pkgutil
from typing import Any

from hwsim.errors import ConfigError


def is_import_path(text: str) -> bool:
    """True when ``text`` has the ``module:attr`` form (a dotted module, a colon, a dotted attribute)."""
    module, sep, attr = text.partition(":")
    return bool(sep and module and attr) and all(p.isidentifier() for p in module.split(".") + attr.split("."))


def resolve_name(target: str, *, what: str = "object", allow_import: bool = True) -> Any:
    """The object named by ``module:attr`` (``pkgutil.resolve_name``), as a :class:`ConfigError` when it
    cannot be found.

    ``what`` names the thing for the message (``"device"``, ``"command"``). With ``allow_import=False``
    nothing is imported and the call is refused: callers pass the user's opt-in through.
    """
    if not is_import_path(target):
        raise ConfigError(f"'{target}' is not a 'module:attr' path for a {what}")
    if not allow_import:
        raise ConfigError(f"refusing to import {what} '{target}': importing 'module:attr' needs an explicit "
                          "opt-in (allow_import=True in Python, --allow-import on the command line); "
                          "URLs, config files, checkpoints and handshakes may name registered things only")
    try:
        return pkgutil.resolve_name(target)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(f"cannot find {what} '{target}': {exc}") from exc
