"""Network traces and video chunk sizes for adaptive bitrate streaming (the ``abr`` data set).

A trace is a list of ``(time_s, throughput_Mbps)`` rows ("cooked" mahimahi traces, as Pensieve uses
them). Trace sets are named: ``fcc-test`` (NetLLM's 100 FCC test traces with their fixed start
rows), ``hsdpa`` (the 50 Norway HSDPA traces), and its split ``hsdpa-train`` / ``hsdpa-test``
(every fifth trace in file-name order is held out for testing).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import numpy as np

from hwsim.data import fetch
from hwsim.errors import ConfigError, DataError

BITRATE_LEVELS = 6
HSDPA_TEST_EVERY = 5  # every fifth HSDPA trace (sorted by file name) is held out


@dataclass(frozen=True)
class Trace:
    """One throughput trace: row times (s) and bandwidth in bytes per second, as plain lists."""

    name: str
    times: tuple[float, ...]
    bytes_per_s: tuple[float, ...]

    @property
    def mean_mbps(self) -> float:
        """Mean of the rows' throughput in Mbit/s."""
        return sum(self.bytes_per_s) * 8e-6 / len(self.bytes_per_s)

    def longest_delivery_s(self, size_bytes: float, payload_share: float) -> float:
        """The longest time delivering ``size_bytes`` can take from any point of the looping trace.

        The trace is periodic (rows 1..n-1, then row 1 again from time 0), row ``k`` delivering
        ``bytes_per_s[k] x payload_share`` per second over ``times[k-1]..times[k]``. A delivery from
        time ``t`` ends at the last moment the cumulative payload since ``t`` is still ``size_bytes``
        (so a zero-rate stretch right after the last byte counts, as in the simulator's loop). The
        delivery time is piecewise linear in ``t``, so its maximum is at a start on a row boundary or
        at a start whose end lands on one; both sets are evaluated exactly.
        """
        times = np.asarray(self.times, dtype=np.float64)
        rate = np.asarray(self.bytes_per_s, dtype=np.float64)[1:] * payload_share
        edges = np.concatenate([[0.0], times[1:]])  # row k covers edges[k-1]..edges[k] after the loop
        period, per_loop = edges[-1], float(np.sum(rate * np.diff(edges)))
        loops = int(np.ceil(size_bytes / per_loop)) + 2
        t = np.concatenate([edges[:-1] + i * period for i in range(loops)] + [[loops * period]])
        rates = np.tile(rate, loops)
        cum = np.concatenate([[0.0], np.cumsum(rates * np.diff(t))])  # payload delivered by each edge

        def payload_at(x: np.ndarray) -> np.ndarray:
            return np.interp(x, t, cum)

        def end_of(start: np.ndarray) -> np.ndarray:
            target = payload_at(start) + size_bytes
            j = np.searchsorted(cum, target, side="right")  # cum[j-1] <= target < cum[j]
            return t[j - 1] + (target - cum[j - 1]) / rates[j - 1]

        row_starts = edges[:-1]
        # starts whose delivery ends exactly on an edge of the first loops: payload(start) = cum[k] - size
        goal = cum - size_bytes
        goal = goal[(goal >= 0) & (goal < per_loop)]
        k = np.searchsorted(cum, goal, side="right")  # first start reaching that payload (inside a positive row)
        landing = t[k - 1] + (goal - cum[k - 1]) / rates[k - 1]
        starts = np.concatenate([row_starts, landing])
        return float(np.max(end_of(starts) - starts))


@dataclass(frozen=True)
class TraceSet:
    """Named traces, in file-name order, with the fixed start row of each (``None`` = row 1)."""

    name: str
    traces: tuple[Trace, ...]
    start_rows: tuple[int, ...] | None

    def __len__(self) -> int:
        return len(self.traces)

    @property
    def max_bytes_per_s(self) -> float:
        """The highest row bandwidth of any trace (bytes per second)."""
        return max(max(trace.bytes_per_s[1:]) for trace in self.traces)

    def longest_delivery_s(self, size_bytes: float, payload_share: float) -> float:
        """The longest delivery of ``size_bytes`` over any trace of the set, from any point
        (:meth:`Trace.longest_delivery_s`; computed once per trace, size and share)."""
        return max(_longest_delivery_s(trace, float(size_bytes), float(payload_share)) for trace in self.traces)


@lru_cache(maxsize=4096)
def _longest_delivery_s(trace: Trace, size_bytes: float, payload_share: float) -> float:
    return trace.longest_delivery_s(size_bytes, payload_share)


def parse_trace(path: Path) -> Trace:
    """Read one cooked trace file (``time_s throughput_Mbps`` per line) and check it."""
    try:
        rows = np.loadtxt(path, ndmin=2, dtype=np.float64)
    except ValueError as exc:
        raise DataError(f"trace {path} is not two numeric columns (time_s Mbps): {exc}") from exc
    if rows.shape[1] < 2 or rows.shape[0] < 2:
        raise DataError(f"trace {path} needs at least two rows of 'time_s Mbps'; it has shape {rows.shape}")
    times, mbps = rows[:, 0], rows[:, 1]
    if times[0] < 0 or np.any(np.diff(times) < 0):
        raise DataError(f"trace {path}: times must start at >= 0 and never decrease")
    if np.any(mbps < 0) or not np.any(mbps[1:] > 0):
        raise DataError(f"trace {path}: throughput must be >= 0 with some positive row after the first")
    return Trace(path.name, tuple(float(t) for t in times), tuple(float(b) * 1e6 / 8.0 for b in mbps))


def _trace_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise DataError(f"no trace files in {folder}; check the 'abr' data set (hwsim data fetch abr)")
    return files


@cache
def load_trace_set(name: str) -> TraceSet:
    """The trace set ``name`` (``fcc-test``, ``hsdpa``, ``hsdpa-train`` or ``hsdpa-test``)."""
    if name == "fcc-test":
        root = fetch("abr")
        files = _trace_files(root / "traces_fcc")
        ptrs = json.loads((root / "fcc_test_mahimahi_ptrs.json").read_text())
        traces = tuple(parse_trace(f) for f in files)
        if len(ptrs) != len(traces):
            raise DataError(f"fcc_test_mahimahi_ptrs.json has {len(ptrs)} start rows for {len(traces)} traces")
        for trace, ptr in zip(traces, ptrs):
            if not 1 <= int(ptr) < len(trace.times):
                raise DataError(f"start row {ptr} is outside trace {trace.name} ({len(trace.times)} rows)")
        return TraceSet(name, traces, tuple(int(p) for p in ptrs))
    if name in ("hsdpa", "hsdpa-train", "hsdpa-test"):
        files = _trace_files(fetch("abr") / "traces_hsdpa")
        if name == "hsdpa-train":
            files = [f for i, f in enumerate(files) if i % HSDPA_TEST_EVERY != HSDPA_TEST_EVERY - 1]
        elif name == "hsdpa-test":
            files = [f for i, f in enumerate(files) if i % HSDPA_TEST_EVERY == HSDPA_TEST_EVERY - 1]
        return TraceSet(name, tuple(parse_trace(f) for f in files), None)
    raise ConfigError(f"unknown trace set '{name}'; choose fcc-test, hsdpa, hsdpa-train or hsdpa-test")


@lru_cache(maxsize=1)
def load_video_sizes() -> tuple[tuple[int, ...], ...]:
    """Chunk sizes in bytes of the EnvivioDash3 video: ``sizes[level][chunk]``, level 0 lowest."""
    folder = fetch("abr") / "video_sizes"
    levels = []
    for level in range(BITRATE_LEVELS):
        path = folder / f"video_size_{level}"
        if not path.exists():
            raise DataError(f"missing {path}; check the 'abr' data set (hwsim data fetch abr)")
        try:
            sizes = tuple(int(line.split()[0]) for line in path.read_text().splitlines() if line.strip())
        except ValueError as exc:
            raise DataError(f"{path} must hold one integer byte count per line: {exc}") from exc
        levels.append(sizes)
    if len({len(s) for s in levels}) != 1:
        raise DataError(f"video size files in {folder} have different chunk counts")
    return tuple(levels)
