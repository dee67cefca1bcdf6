"""Moved to :mod:`agents.abr.traces` (the ABR task lives in
:mod:`agents.abr`); this name keeps old imports working."""

from agents.abr.traces import *  # noqa: F401,F403
