"""``hwsim data``: list the registered data sets, or fetch and verify some."""

from __future__ import annotations

import argparse
from typing import Sequence

from hwsim.data import data_home, fetch, registry


def main(argv: Sequence[str]) -> int:
    """List data sets (no argument) or fetch/verify the named ones into ``HWSIM_DATA``."""
    p = argparse.ArgumentParser(prog="hwsim data", description=__doc__)
    p.add_argument("datasets", nargs="*", help="data sets to fetch and verify (default: list them)")
    p.add_argument("--offline", action="store_true", help="verify only, never download")
    args = p.parse_args(argv)
    reg = registry()
    if not args.datasets:
        print(f"data folder: {data_home()}  (set HWSIM_DATA to change it)")
        for name, entry in reg.items():
            print(f"  {name:15s} {len(entry['files']):4d} files  {entry['description']}")
        return 0
    for name in args.datasets:
        root = fetch(name, download=not args.offline)
        print(f"{name}: {len(reg[name]['files'])} files verified in {root}")
    return 0
