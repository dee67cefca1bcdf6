"""A compiled model: call it on numpy arrays, time it, export it (:mod:`edge.artifact`).

It runs on the local device when its target is runnable here (the VM, the weights and the input
buffers are made on the first call); otherwise only export is possible.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from edge.artifact import export as export_artifact
from edge.cuda_aot import nvcc_path
from edge.errors import InputMismatchError, TargetMismatchError
from edge.specs import TensorSpec, runtime_inputs, shape_text
from edge.targets import TargetSpec, cuda_available, local_arch
from edge.tensors import InputStage, StaticCall, flatten_outputs, to_tvm


def set_num_threads(num_threads: int | None) -> None:
    """Size TVM's CPU thread pool (``None`` leaves it as configured by ``TVM_NUM_THREADS``)."""
    if not num_threads:
        return
    import tvm_ffi

    os.environ["TVM_NUM_THREADS"] = str(int(num_threads))
    config = tvm_ffi.get_global_func("runtime.config_threadpool", allow_missing=True)
    if config is not None:
        # the thread pool pins the calling thread too; keep this process free to use every core
        saved = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
        config(1, int(num_threads))
        if saved is not None:
            os.sched_setaffinity(0, saved)


def use_nvcc_for_jit() -> None:
    """An in-memory CUDA build holds CUDA source that TVM compiles when it is first run, with NVRTC
    through the ``cuda-python`` bindings; when those are missing and nvcc is present, use nvcc."""
    if "TVM_CUDA_COMPILE_MODE" in os.environ:
        return
    try:
        has_bindings = importlib.util.find_spec("cuda.bindings") is not None
    except ModuleNotFoundError:
        has_bindings = False
    if not has_bindings and nvcc_path():
        os.environ["TVM_CUDA_COMPILE_MODE"] = "nvcc"


@dataclass
class CompiledModel:
    """A compiled model: call it on numpy arrays; ``export(dir)`` writes a deployable artifact.

    Runs on the local device when its target is runnable here; otherwise only export is possible."""

    executable: Any  # tvm.runtime.Module / relax VMExecutable
    spec: TargetSpec
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    params: list[np.ndarray]  # weights as ``main`` takes them (after ``main_transform_params``)
    param_names: list[str]  # names of the source model's weights
    info: dict[str, Any] = field(default_factory=dict)  # source, verification, tuning, build
    num_threads: int | None = None
    _vm: Any = field(default=None, repr=False)
    _weights: Any = field(default=None, repr=False)
    _device: Any = field(default=None, repr=False)
    _main: Any = field(default=None, repr=False)
    _stage: Any = field(default=None, repr=False)
    _lock: Any = field(default=None, repr=False)
    _static: Any = field(default=None, repr=False)  # StaticCall for the compiled input signature, if any

    @property
    def target(self) -> str:
        """The target name this model was built for."""
        return self.spec.name

    def runnable(self) -> bool:
        """True when this machine can execute the model."""
        return self.spec.runnable_here()

    def _ensure_vm(self) -> None:
        if self._vm is not None:
            return
        if not self.runnable():
            where = "a CUDA GPU" if self.spec.is_cuda and not self.spec.is_cross else f"a {self.spec.cpu_arch} board"
            raise TargetMismatchError(
                f"this model was built for '{self.spec.name}' and cannot run on this machine "
                f"({_local_desc()}); it needs {where}. Export it and run it there "
                "(hwsim edge run / hwsim edge bench --rpc host:port)")
        import tvm
        from tvm.runtime.vm import VirtualMachine  # not tvm.relax: a board may hold only TVM's runtime

        set_num_threads(self.num_threads)
        if self.spec.is_cuda:
            use_nvcc_for_jit()
        self._device = tvm.cuda(0) if self.spec.is_cuda else tvm.cpu(0)
        self._vm = VirtualMachine(self.executable, self._device)
        self._main = self._vm["main"]
        self._weights = [tvm.runtime.tensor(p, self._device) for p in self.params]
        self._stage = InputStage(self._device)
        self._lock = threading.Lock()
        signature = [(s.shape, s.dtype) for s in self.inputs]
        specialised = any(s.value is not None for s in self.inputs)  # calls pass them: the checking path
        if not specialised and StaticCall.possible(self._device, signature):
            self._static = StaticCall(self._main, self._weights, signature, self._device, self._lock)

    def check_inputs(self, arrays: Sequence[Any]) -> list[np.ndarray]:
        """The inputs ``main`` takes as contiguous numpy arrays (inputs specialised at compile time checked
        and left out), or :class:`InputMismatchError` saying what is wrong."""
        if len(arrays) != len(self.inputs):
            names = ", ".join(f"{s.name}{shape_text(s.shape)}" for s in self.inputs)
            raise InputMismatchError(f"the model takes {len(self.inputs)} input(s) ({names}), got {len(arrays)}")
        out = []
        for spec, a in zip(self.inputs, arrays):
            a = np.asarray(a.detach().cpu().numpy() if hasattr(a, "detach") else a)
            if a.dtype != spec.dtype:
                raise InputMismatchError(f"input '{spec.name}' must be {spec.dtype}, got {a.dtype}; "
                                         f"convert with .astype('{spec.dtype}')")
            if not spec.matches(a.shape):
                if None in spec.shape and spec.max_batch is not None:
                    hint = (f" with a batch of 1 to {spec.max_batch}; compile with dynamic_batch=N "
                            "(hwsim edge compile --max-batch N) for larger batches")
                else:
                    hint = "" if None in spec.shape else "; compile with dynamic_batch=True for other batch sizes"
                raise InputMismatchError(
                    f"input '{spec.name}' must have shape {shape_text(spec.shape)}, got {tuple(a.shape)}" + hint)
            out.append(a if a.flags.c_contiguous else a.copy(order="C"))  # rank 0 stays rank 0
        return runtime_inputs(self.inputs, out)

    def run_list(self, *arrays: Any) -> list[np.ndarray]:
        """Run the model; every output as a numpy array, in order."""
        if self._static is not None:
            outs = self._static(arrays)
            if outs is not None:
                return outs
        checked = self.check_inputs(arrays)
        self._ensure_vm()
        with self._lock:  # the staged inputs (and the VM) serve one call at a time
            out = self._main(*self._stage.place(checked), *self._weights)
        return flatten_outputs(out)

    def __call__(self, *arrays: Any) -> np.ndarray | tuple[np.ndarray, ...]:
        """Run the model on numpy arrays: one output array, or a tuple when the model has several."""
        outs = self.run_list(*arrays)
        return outs[0] if len(outs) == 1 else tuple(outs)

    def prepared_call(self, *arrays: np.ndarray) -> Callable[[], Any]:
        """A no-argument function that runs the model on ``arrays`` already placed on the device (for
        timing without the host-to-device copy and input checks)."""
        checked = self.check_inputs(arrays)
        self._ensure_vm()
        args = [to_tvm(a, self._device) for a in checked]
        main = self._main
        weights = self._weights
        if self.spec.is_cuda:
            dev = self._device
            return lambda: (main(*args, *weights), dev.sync())
        return lambda: main(*args, *weights)

    def export(self, directory: str | os.PathLike, cuda_aot: bool = True) -> Path:
        """Write the library, the weights and ``manifest.json`` to ``directory``; returns it. For CUDA
        targets the kernels are compiled ahead of time with nvcc unless ``cuda_aot=False`` (then the
        library carries CUDA source that the device compiles with NVRTC when loading it)."""
        return export_artifact(self, directory, cuda_aot=cuda_aot)


def _local_desc() -> str:
    return f"{local_arch()}, no CUDA GPU" if not cuda_available() else f"{local_arch()} with a CUDA GPU"
