"""What a bench backend builds for one model at one input: :class:`Runner`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np


@dataclass
class Runner:
    """How to run one model on one backend at one input shape: a numpy-in numpy-out ``call``, a
    ``resident`` call with the input already in the runtime's tensors, what the build reported, or why
    it failed (``error``, and then no calls)."""

    call: Callable[[np.ndarray], Any] | None = None
    resident: Callable[[], Any] | None = None
    info: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
