"""Shared test set-up: real data from ../shared/data unless HWSIM_DATA says otherwise; quiet output."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HWSIM_DATA", str(ROOT.parent / "shared" / "data"))
os.environ.setdefault("HWSIM_QUIET", "1")
os.environ.setdefault("OMP_NUM_THREADS", "2")
