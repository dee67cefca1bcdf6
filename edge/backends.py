"""The backends the edge benchmarks compare, as a table of objects: PyTorch eager, ONNX Runtime
(:class:`edge.ort.OrtBackend`), TVM untuned and TVM tuned (:class:`TvmBackend`).

A backend ``build``s a :class:`~edge.runner.Runner` for one :class:`BenchModel` at one input: a numpy-in numpy-out
``call``, a ``resident`` call with the input already in the runtime's own tensors, what the build
reported (``info``) or why it failed (``error``). ``static_batch`` says whether a build takes only the
batch size it was built for, ``compiled`` whether it is one of hwsim's own builds.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from edge.compile import compile_model
from edge.ort import OrtBackend
from edge.runner import Runner
from hwsim.errors import HwsimError


@dataclass
class BenchModel:
    """One benchmarked model: the PyTorch module (``None`` for an ONNX-only model), a function writing (or
    finding) its ONNX file for an example input, the verification tolerance, and whether hwsim compiles
    the module or the ONNX file."""

    name: str
    module: nn.Module | None
    onnx: Callable[[np.ndarray], Path]
    atol: float = 1e-4
    rtol: float = 1e-4
    compile_from: str = "torch"  # "torch" | "onnx"


class TorchEager:
    """PyTorch eager in inference mode (the module's own forward)."""

    name = "pytorch"
    static_batch = False
    compiled = False

    def build(self, model: BenchModel, x: np.ndarray, threads: int, tune: int = 0) -> Runner:
        """A runner of ``model.module``; an error runner for an ONNX-only model."""
        if model.module is None:
            return Runner(error="no PyTorch module (an ONNX-only model)")
        module = copy.deepcopy(model.module).eval()

        def call(a: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                out = module(torch.from_numpy(a))
            return (out[0] if isinstance(out, (tuple, list)) else out).numpy()

        xt = torch.from_numpy(x.copy())

        def resident() -> Any:
            with torch.inference_mode():
                return module(xt)

        return Runner(call, resident)


class TvmBackend:
    """The model compiled by :func:`edge.compile.compile_model` for this CPU at a static input shape,
    verified by the compile itself against its source (PyTorch or ONNX Runtime); ``tuned`` builds tune
    with the bench's trial budget, the others use the default schedules."""

    static_batch = True
    compiled = True

    def __init__(self, name: str, tuned: bool, default_schedules: bool = True) -> None:
        self.name = name
        self.tuned = tuned
        self.default_schedules = default_schedules

    def build(self, model: BenchModel, x: np.ndarray, threads: int, tune: int = 0) -> Runner:
        """A runner of the compiled model, or an error runner saying why the compile was refused."""
        trials = tune if self.tuned else 0
        source = model.module if model.compile_from == "torch" else model.onnx(x)
        examples = (torch.from_numpy(x),) if model.compile_from == "torch" else (x,)
        start = time.perf_counter()
        try:
            compiled = compile_model(source, examples, num_threads=threads, tune_trials=trials, atol=model.atol,
                                     rtol=model.rtol, default_schedules=self.default_schedules)
        except HwsimError as exc:  # verification failure, unsupported operator, tuning failure
            return Runner(error=f"{type(exc).__name__}: {exc}")
        info = {"compile_s": round(time.perf_counter() - start, 2),
                "verification": compiled.info.get("verification"), "tuning": compiled.info.get("tuning"),
                "layout": compiled.info.get("build", {}).get("layout")}
        if trials > 0 and not (info["tuning"] or {}).get("records"):
            return Runner(error=f"TuningError: tuning with {trials} trials per task left no usable record (every "
                                "candidate failed to build or run), so this build would be the untuned one; see "
                                f"the MetaSchedule logs in {(info['tuning'] or {}).get('database')}", info=info)
        return Runner(compiled, compiled.prepared_call(x), info)


BACKENDS: dict[str, Any] = {
    "pytorch": TorchEager(),
    "onnxruntime": OrtBackend(),
    "tvm": TvmBackend("tvm", tuned=False),
    "tvm-tuned": TvmBackend("tvm-tuned", tuned=True),
    "tvm-naive": TvmBackend("tvm-naive", tuned=False, default_schedules=False),
}
