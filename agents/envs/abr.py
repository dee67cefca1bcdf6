"""Moved to :mod:`agents.abr.env` (the ABR task lives in
:mod:`agents.abr`); this name keeps old imports working."""

from agents.abr.env import *  # noqa: F401,F403
