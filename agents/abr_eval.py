"""Moved to :mod:`agents.abr.evaluate` (the ABR task lives in
:mod:`agents.abr`); this name keeps old imports working."""

from agents.abr.evaluate import *  # noqa: F401,F403
