"""Moved to :mod:`agents.abr.baselines` (the ABR task lives in
:mod:`agents.abr`); this name keeps old imports working."""

from agents.abr.baselines import *  # noqa: F401,F403
