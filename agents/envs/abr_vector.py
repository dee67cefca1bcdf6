"""Moved to :mod:`agents.abr.vector` (the ABR task lives in
:mod:`agents.abr`); this name keeps old imports working."""

from agents.abr.vector import *  # noqa: F401,F403
