"""Latency of a compiled model on this machine or, over TVM RPC, on a board."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edge.loading import load
from edge.rpc import RemoteModel, connect
from hwsim.errors import ConfigError
from hwsim.report import sample_stats


def _stats(samples: Sequence[float]) -> dict[str, float]:
    s = list(samples)
    return {**sample_stats(s), "std": statistics.stdev(s) if len(s) > 1 else 0.0}


def time_model(compiled: Any, inputs: Sequence[np.ndarray] | np.ndarray, repeat: int = 50, number: int = 1,
               rpc: str | None = None, warmup: int = 5) -> dict[str, Any]:
    """Latency statistics in seconds of one run of ``compiled`` (a CompiledModel or an artifact folder).

    Locally: wall clock around the Python call of the VM (inputs already on the device), each of
    ``repeat`` samples the mean of ``number`` calls, after ``warmup`` calls. With ``rpc`` (``host:port``
    or ``tracker://host:port/key``): the artifact is uploaded and timed on the board by TVM's time
    evaluator (so no network time is included); ``compiled`` must then be an artifact folder or a model
    that can be exported."""
    arrays = [inputs] if isinstance(inputs, np.ndarray) else list(inputs)
    if repeat < 1 or number < 1:
        raise ConfigError("repeat and number must be at least 1")
    if rpc:
        return _time_remote(compiled, arrays, repeat, number, rpc)
    if isinstance(compiled, (str, os.PathLike)):
        compiled = load(compiled)
    fn = compiled.prepared_call(*arrays)
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - t0) / number)
    return {**_stats(samples), "number": number, "where": "local", "target": compiled.spec.name,
            "method": "wall clock of the Python call, inputs on device",
            "num_threads": compiled.num_threads or int(os.environ.get("TVM_NUM_THREADS", 0)) or None}


def _time_remote(compiled: Any, arrays: list[np.ndarray], repeat: int, number: int, address: str) -> dict[str, Any]:
    session = connect(address)
    with tempfile.TemporaryDirectory(prefix="hwsim-rpc-") as tmp:
        directory = Path(compiled) if isinstance(compiled, (str, os.PathLike)) else compiled.export(tmp)
        with RemoteModel(session, directory) as remote:
            samples = remote.time(arrays, repeat=repeat, number=number)
            target = remote.spec.name
        del session
    return {**_stats(samples), "number": number, "where": f"rpc {address}", "target": target,
            "method": "TVM time_evaluator on the board"}
