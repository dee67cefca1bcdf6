"""Benchmark reporting: a plain-text table on stdout and a JSON file with the machine it ran on."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    info: dict[str, Any] = {"python": sys.version.split()[0], "platform": platform.platform(),
                            "machine": platform.machine(), "cpus": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    for mod in ("numpy", "torch"):
        if mod in sys.modules:
            info[mod] = getattr(sys.modules[mod], "__version__", "?")
    return info


def format_value(v: Any) -> str:
    """Compact text for a table cell."""
    if isinstance(v, float):
        if v != v:
            return "nan"
        if abs(v) >= 1000 or (0 < abs(v) < 0.001):
            return f"{v:.3g}"
        return f"{v:.4g}"
    return "-" if v is None else str(v)


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """Render ``rows`` as an aligned text table over ``columns`` (default: keys of the first row)."""
    if not rows:
        return "(no rows)"
    cols = list(columns or rows[0].keys())
    cells = [[format_value(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    line = "  ".join(c.ljust(w) for c, w in zip(cols, widths))
    sep = "  ".join("-" * w for w in widths)
    body = ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join([line, sep, *body])


def write_bench(path: str | Path | None, name: str, rows: Sequence[Mapping[str, Any]],
                columns: Sequence[str] | None = None, **extra: Any) -> dict[str, Any]:
    """Print the table of a benchmark and, when ``path`` is given, write it as JSON with the machine."""
    print(table(rows, columns))
    payload = {"bench": name, "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": machine(),
               **extra, "rows": list(rows)}
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(payload, indent=2, default=lambda v: v.tolist()) + "\n")
        print(f"wrote {path}")
    return payload


def sample_stats(samples: Iterable[float]) -> dict[str, float]:
    """Median, mean, p10, p90 and count of timing samples (seconds)."""
    ordered = sorted(samples)
    n = len(ordered)
    return {"median": statistics.median(ordered), "mean": statistics.fmean(ordered),
            "p10": ordered[int(0.1 * (n - 1))], "p90": ordered[int(0.9 * (n - 1))], "n": n}


def time_call(fn: Callable[[], Any], repeat: int = 50, warmup: int = 5, min_time: float = 0.0) -> dict[str, float]:
    """Wall-clock statistics (seconds) of calling ``fn``: median, mean, p10, p90, n."""
    return time_interleaved({"fn": fn}, repeat=repeat, warmup=warmup, min_time=min_time)["fn"]


def time_interleaved(fns: dict[str, Callable[[], Any]], repeat: int = 200, warmup: int = 3, min_time: float = 0.0
                     ) -> dict[str, Any]:
    """Wall-clock statistics (seconds) of several calls timed round-robin (one call of each per round, at
    least ``repeat`` rounds and ``min_time`` seconds), so every one sees the same machine state:
    ``{name: {median, mean, p10, p90, n}}``, plus the per-round samples under ``"_samples"`` (name -> list)."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    rounds = 0
    start = time.perf_counter()
    while rounds < repeat or (time.perf_counter() - start) < min_time:
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - t0)
        rounds += 1
    out: dict[str, Any] = {name: sample_stats(vals) for name, vals in samples.items()}
    out["_samples"] = samples
    return out


def time_pair(fn_a: Callable[[], Any], fn_b: Callable[[], Any], repeat: int = 200,
              warmup: int = 5) -> dict[str, float]:
    """Medians (seconds) of ``fn_a`` and ``fn_b`` called alternately (:func:`time_interleaved`), and the
    median of their paired difference ``a - b``: ``{a, b, diff, n}``."""
    stats = time_interleaved({"a": fn_a, "b": fn_b}, repeat=repeat, warmup=warmup)
    a, b = stats["_samples"]["a"], stats["_samples"]["b"]
    return {"a": stats["a"]["median"], "b": stats["b"]["median"],
            "diff": statistics.median(x - y for x, y in zip(a, b)), "n": repeat}


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    vals = list(values)
    if not vals:
        return float("nan"), float("nan")
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0)
