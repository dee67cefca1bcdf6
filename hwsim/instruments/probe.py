"""``hwsim probe 'visa?config=...'``: open an instrument chain, print each instrument's identity and the
chain's declared capabilities, and measure one shot to show the whole path works.

Opening runs every instrument's setup (a rejected command is reported with the instrument's own error
message); the test shot plays mid-range rows; closing runs the teardown (e.g. switches the AWG output off).
"""

from __future__ import annotations

import time

import numpy as np

from hwsim.registry import create_device


def probe_lines(spec: str) -> list[str]:
    """The lines ``hwsim probe`` prints for the chain device ``spec`` (``visa?config=...``)."""
    with create_device(spec) as chain:
        describe = getattr(chain, "describe", None)
        lines = list(describe()) if callable(describe) else [f"device       {chain.info.name}"]
        info = chain.info
        lo, hi = info.input_range
        per_shot = getattr(getattr(chain, "spec", None), "rows_per_shot", 1)
        rows = np.full((per_shot, *info.input_shape), 0.5 * (lo + hi), dtype=np.float32)
        start = time.perf_counter()
        y = chain.measure(rows)
        took = time.perf_counter() - start
        lines.append(f"test shot    {per_shot} mid-range row(s) in {took * 1e3:.1f} ms: outputs "
                     f"{float(y.min()):+.4g} .. {float(y.max()):+.4g} (declared range {info.output_range})")
    return lines


def main(spec: str) -> int:
    """Print :func:`probe_lines` for ``spec``; returns the exit code."""
    print("\n".join(probe_lines(spec)))
    return 0
