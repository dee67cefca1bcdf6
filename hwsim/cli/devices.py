"""``hwsim devices``: list the devices that ``serve``, ``sim://`` and ``--system`` accept."""

from __future__ import annotations

import argparse
from typing import Sequence

from hwsim.registry import available


def main(argv: Sequence[str]) -> int:
    """Print every known device name and where it is defined."""
    argparse.ArgumentParser(prog="hwsim devices", description=__doc__).parse_args(argv)
    for name, target in sorted(available().items()):
        print(f"{name:14s} {target}")
    return 0
