"""The ``ansi`` rendering the environments share: a title line and one ``name: value`` line each."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from hwsim.errors import ConfigError

RENDER_MODES = ["ansi"]


def check_render_mode(render_mode: str | None, modes: list[str]) -> str | None:
    """``render_mode`` if it is one of ``modes`` (or ``None``); a ConfigError that lists them otherwise."""
    if render_mode is not None and render_mode not in modes:
        raise ConfigError(f"render_mode must be one of {modes} or None; got {render_mode!r}")
    return render_mode


def ansi_text(title: str, fields: Mapping[str, Any]) -> str:
    """``title`` then ``name: value`` per field (floats with 4 significant digits, arrays as lists)."""
    lines = [title]
    for name, value in fields.items():
        if isinstance(value, (float, np.floating)):
            value = f"{value:.4g}"
        elif isinstance(value, np.ndarray):
            value = np.array2string(value, precision=3, separator=", ", max_line_width=100)
        lines.append(f"  {name}: {value}")
    return "\n".join(lines) + "\n"
