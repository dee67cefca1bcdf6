"""What runs on a worker for one job, whichever back end sent it there.

:func:`execute` fixes the thread count, makes sure the data sets the job reads are on this machine
(checking them, or installing the copies the driver shipped through Ray's object store, never
downloading), runs the job and reports where it ran. An exception of the job comes back as an error
outcome rather than being raised: it is the job's answer, not a lost worker, so it is not retried.
"""

from __future__ import annotations

import os
import socket
import sys
import time
import traceback
from typing import Any, Callable, Mapping

from hwsim.data import data_home, fetch, install_files
from hwsim.errors import DataError, HwsimError

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def placement() -> dict[str, Any]:
    """Where this process runs: host name, process id, and the Ray node (id and IP) inside a Ray worker."""
    where: dict[str, Any] = {"host": socket.gethostname(), "pid": os.getpid(), "node": "local"}
    ray = sys.modules.get("ray")
    if ray is not None and getattr(ray, "is_initialized", lambda: False)():
        where["node"] = ray.get_runtime_context().get_node_id()
        where["ip"] = ray.util.get_node_ip_address()
    return where


def fix_threads(threads: int) -> None:
    """Run the job's numerics on ``threads`` threads (torch and the BLAS/OpenMP libraries loaded later)."""
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    import torch  # a core dependency; every project job computes with it

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def ensure_data(name: str, shipped: Any = None) -> None:
    """Make sure data set ``name`` is in this machine's :func:`hwsim.data.data_home` and verified: as it is,
    else from ``shipped`` (the driver's copy: a dict of file bytes or a Ray object reference to one).
    Never downloads; a missing set without a shipped copy is a :class:`DataError` saying what to do."""
    try:
        fetch(name, download=False)
        return
    except DataError as exc:
        if shipped is None:
            raise DataError(f"data set '{name}' is not on worker {socket.gethostname()} (HWSIM_DATA there: "
                            f"{data_home()}): {exc}. Run 'hwsim data {name}' on that machine, point the workers' "
                            "HWSIM_DATA at a shared folder that holds it (--worker-data), or let the runner ship "
                            "it through Ray's object store (leave out --no-ship-data)") from None
    if not isinstance(shipped, dict):  # a Ray object reference, fetched only on a machine that needs it
        import ray

        shipped = ray.get(shipped)
    install_files(name, shipped)


def execute(fn: Callable[[dict[str, Any]], Any], config: Mapping[str, Any], needs: tuple[str, ...] = (),
            shipped: Mapping[str, Any] | None = None, threads: int = 1) -> dict[str, Any]:
    """Run one job here: ``{"ok": True, "result", "where", "wall_s"}``, or ``{"ok": False, "error": {type,
    message, hwsim, traceback}, "where"}`` when the job raised."""
    where = placement()
    t0 = time.perf_counter()
    try:
        fix_threads(threads)
        for name in needs:
            ensure_data(name, (shipped or {}).get(name))
        result = fn(dict(config))
    except Exception as exc:  # noqa: BLE001 - the job's own failure is reported, not raised
        return {"ok": False, "where": where, "wall_s": time.perf_counter() - t0,
                "error": {"type": type(exc).__name__, "message": str(exc), "hwsim": isinstance(exc, HwsimError),
                          "traceback": traceback.format_exc(limit=20)}}
    return {"ok": True, "result": result, "where": where, "wall_s": time.perf_counter() - t0}
