"""Work-arounds for behaviour of Apache TVM 0.27 that would otherwise cost minutes or crash.

- Importing ``tvm.s_tir.tensor_intrin`` (done by MetaSchedule's ``TuneContext``) parses hundreds of
  TVMScript functions, and each parse calls ``inspect.stack()``, which resolves the module of every frame
  by scanning ``sys.modules``: about 4 minutes on a busy 2-core machine. MetaSchedule's builder worker
  processes pay it again for every batch of candidates (measured: 5 minutes per batch of 8 builds, 26 s
  with the fix). A stack walk that reads only the current line of each frame gives the parser the same
  information in seconds; ``worker_init`` installs it in the workers.
- With only the runtime library (``TVM_USE_RUNTIME_LIB=1``, what a board needs), ``import tvm`` does not
  load the CUDA device API: ``load_runtime_device_apis`` does.
- ``apache-tvm-ffi`` 0.1.15.x makes MetaSchedule segfault with apache-tvm 0.27.0.post1; ``ffi_smoke``
  checks the pairing in a subprocess so the crash cannot take the caller down.
"""

from __future__ import annotations

import contextlib
import ctypes
import inspect
import linecache
import logging
import subprocess
import sys
from typing import Iterator

_SMOKE = r"""
import sys, types
import tvm
# the tensor intrinsics are irrelevant to the ffi pairing and take long to parse: stand in an empty module
sys.modules["tvm.s_tir.tensor_intrin"] = types.ModuleType("tvm.s_tir.tensor_intrin")
from tvm import te
from tvm.s_tir import meta_schedule as ms
a = te.placeholder((8, 8), name="a")
b = te.compute((8, 8), lambda i, j: a[i, j] * 2.0, name="b")
mod = tvm.IRModule({"main": te.create_prim_func([a, b])})
ctx = ms.TuneContext(mod=mod, target=tvm.target.Target({"kind": "llvm", "num-cores": 1}),
                     space_generator=ms.space_generator.PostOrderApply(sch_rules=[], postprocs=[], mutator_probs={}),
                     search_strategy="replay-trace", task_name="smoke", num_threads=1)
assert len(ctx.generate_design_space()) == 1
print("ok")
"""


def _light_stack(context: int = 1) -> list[inspect.FrameInfo]:
    frame = sys._getframe(1)
    out = []
    while frame is not None:
        filename, lineno = frame.f_code.co_filename, frame.f_lineno
        line = linecache.getline(filename, lineno)
        out.append(inspect.FrameInfo(frame, filename, lineno, frame.f_code.co_name,
                                     [line] if line else None, 0 if line else None))
        frame = frame.f_back
    return out


@contextlib.contextmanager
def fast_tvmscript() -> Iterator[None]:
    """Within this block, TVMScript parsing uses a light stack walk instead of ``inspect.stack()``."""
    original = inspect.stack
    inspect.stack = _light_stack  # type: ignore[assignment]
    try:
        yield
    finally:
        inspect.stack = original  # type: ignore[assignment]


def worker_init() -> None:
    """Initializer for MetaSchedule's builder/runner worker processes: the light stack walk for the
    whole (short-lived, single-purpose) worker, so its TVMScript parsing is fast too."""
    inspect.stack = _light_stack  # type: ignore[assignment]


def preload_meta_schedule() -> None:
    """Import MetaSchedule and the tensor intrinsics it registers, quickly (see module doc)."""
    with fast_tvmscript():
        import tvm.s_tir.tensor_intrin  # noqa: F401
        from tvm.s_tir import meta_schedule  # noqa: F401


@contextlib.contextmanager
def meta_schedule_logging_safe() -> Iterator[None]:
    """MetaSchedule's logger set-up (``create_loggers``, run for every batch of tune contexts) lists the
    names of the handlers already on its logger and fails on one without a name, such as the capture
    handler pytest attaches after the first set-up. Detach unnamed handlers for the duration."""
    logger = logging.getLogger("tvm.s_tir.meta_schedule")
    unnamed = [h for h in logger.handlers if h.get_name() is None]
    for handler in unnamed:
        logger.removeHandler(handler)
    try:
        yield
    finally:
        for handler in unnamed:
            logger.addHandler(handler)


def ffi_smoke(timeout: float = 300.0) -> tuple[bool, str]:
    """Build a trivial MetaSchedule tuning context in a subprocess. Returns (ok, detail): a crash there
    (negative return code, e.g. SIGSEGV with apache-tvm-ffi 0.1.15) means tuning would crash too."""
    try:
        proc = subprocess.run([sys.executable, "-c", _SMOKE], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, f"the MetaSchedule smoke test did not finish in {timeout:.0f} s"
    if proc.returncode == 0 and proc.stdout.strip().endswith("ok"):
        return True, "ok"
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return False, f"return code {proc.returncode}: {' | '.join(tail)}"


def load_runtime_device_apis() -> list[str]:
    """With TVM's runtime alone (a board, or ``TVM_USE_RUNTIME_LIB=1``) the CUDA device API and the
    runtime extras are not loaded (the compiler library pulls them in otherwise): load those the package
    ships and this machine can open. Returns the libraries loaded by this call."""
    from tvm import base, libinfo

    if not getattr(base, "_RUNTIME_ONLY", False):
        return []
    loaded = []
    for name in ("tvm_runtime_extra", "tvm_runtime_cuda"):
        if name in base._LOADED_LIBS:
            continue
        for folder in libinfo.package_lib_paths():
            path = f"{folder}/lib{name}.so"
            try:
                base._LOADED_LIBS[name] = ctypes.CDLL(path, ctypes.RTLD_GLOBAL)
            except OSError:  # absent, or its driver (libcuda) is missing here
                continue
            loaded.append(name)
            break
    return loaded
