"""The optional C extension ``hwsim.protocol._wire_c`` (COBS and converter codes), or None.

It is built at install when a C compiler is present (``setup.py``); without it, or with
``HWSIM_PURE_PYTHON=1`` in the environment, hwsim uses its pure-Python and numpy code paths, which
give the same bytes and values and stay the reference the tests hold the extension to.
"""

from __future__ import annotations

import os
from types import ModuleType


def load() -> ModuleType | None:
    """The extension module, or None when it is not built or ``HWSIM_PURE_PYTHON`` asks for pure Python."""
    if os.environ.get("HWSIM_PURE_PYTHON", "") not in ("", "0"):
        return None
    try:
        from hwsim.protocol import _wire_c
    except ImportError:
        return None
    return _wire_c


NATIVE = load()
