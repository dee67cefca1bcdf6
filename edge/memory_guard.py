"""A ceiling on the memory a TVM build may take, so a runaway build fails with a clear error instead of
being killed by the kernel's OOM killer (a VGG-19 cross build once grew past 24 GB; its host build needs
1.8 GB).

:func:`memory_ceiling` lowers the process's data-segment limit (``RLIMIT_DATA``, which covers heap and
anonymous mappings) to what the process uses now plus an allowance for the duration of a block:
allocations beyond it fail (``std::bad_alloc`` in TVM, ``MemoryError`` in Python) and the limit is
restored afterwards. The allowance is ``HWSIM_BUILD_MEMORY_GB`` when set, else 80 % of the memory
available when the block starts.
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

try:
    import resource
except ImportError:  # pragma: no cover - not POSIX
    resource = None  # type: ignore[assignment]

ENV = "HWSIM_BUILD_MEMORY_GB"
SHARE_OF_AVAILABLE = 0.8


def _meminfo_kb(key: str, path: str = "/proc/meminfo") -> int | None:
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def allowance_bytes() -> int | None:
    """The memory a build may add: ``HWSIM_BUILD_MEMORY_GB`` or 80 % of what is available now (``None``
    when neither can be told)."""
    if os.environ.get(ENV):
        return int(float(os.environ[ENV]) * 2**30)
    available = _meminfo_kb("MemAvailable")
    return int(available * 1024 * SHARE_OF_AVAILABLE) if available else None


def data_in_use() -> int:
    """Bytes of the process's data segment now (``VmData``), 0 when unknown."""
    kb = _meminfo_kb("VmData", "/proc/self/status")
    return kb * 1024 if kb else 0


@contextlib.contextmanager
def memory_ceiling(allowance: int | None = None) -> Iterator[int | None]:
    """Within this block the process may grow its data by at most ``allowance`` bytes (default
    :func:`allowance_bytes`); yields the ceiling in bytes (``None`` when no limit could be set)."""
    allowance = allowance if allowance is not None else allowance_bytes()
    if resource is None or allowance is None or not data_in_use():
        yield None
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    ceiling = data_in_use() + allowance
    if soft != resource.RLIM_INFINITY and soft <= ceiling:
        yield soft
        return
    if hard != resource.RLIM_INFINITY:
        ceiling = min(ceiling, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (ceiling, hard))
    try:
        yield ceiling
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))
