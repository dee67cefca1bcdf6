"""Progress bars that show on a terminal and stay quiet under CI or when output is piped."""

from __future__ import annotations

import os
import sys
from typing import Any, Iterable


def progress_enabled() -> bool:
    """True when stderr is a terminal and neither ``CI`` nor ``HWSIM_QUIET`` is set."""
    if os.environ.get("CI") or os.environ.get("HWSIM_QUIET"):
        return False
    return sys.stderr.isatty()


def progress(iterable: Iterable[Any] | None = None, total: int | None = None, desc: str = "", **kw: Any) -> Any:
    """A tqdm bar (disabled off a terminal) over ``iterable`` or counting to ``total``."""
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, disable=not progress_enabled(), leave=False,
                dynamic_ncols=True, **kw)
