"""Moved to :mod:`agents.abr.sim` (the ABR task lives in
:mod:`agents.abr`); this name keeps old imports working."""

from agents.abr.sim import *  # noqa: F401,F403
