"""Compile an imported model with TVM 0.27 for a named target, verify it, and run it.

Pipeline: on CPU targets, convolutions converted to NHWC activations and HWIO weights (output
channels innermost, so the tuned kernels vectorise over channels instead of over a 4- or 8-pixel
row), inference decompositions, weight transforms lifted into ``main_transform_params`` (run once
at compile time, so artifacts carry the weights as ``main`` takes them), legalization to TIR, operator fusion (``tvm.compile`` alone does not fuse on
LLVM), tuning records applied when a database is given, DLight default GPU schedules for CUDA, then the
Relax VM lowering of ``tvm.compile``.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from hwsim.errors import ConfigError
from edge.errors import InputMismatchError, TargetMismatchError
from edge.importer import ImportedModel, TensorSpec, flatten_outputs, import_model
from edge.tensors import InputStage, StaticCall, to_tvm
from edge.targets import TargetSpec, resolve


# what prepare() does, in the key of tuning databases: records tuned for another pipeline do not apply
PIPELINE_VERSION = "cpu-nhwc-1"
CPU_CONV_LAYOUT = {"relax.nn.conv2d": ["NHWC", "HWIO"]}


def prepare(mod: Any, target: Any, layout_like: Any = None) -> Any:
    """Relax passes up to fused TIR (the form that is tuned and that tuning records apply to). Tensor
    layouts are chosen for ``layout_like`` (default: ``target``), so a CPU proxy of a GPU build keeps the
    GPU's layouts and computes the same weights."""
    import tvm
    from tvm import relax

    layout = [] if "gpu" in (layout_like or target).keys else [relax.transform.ConvertLayout(CPU_CONV_LAYOUT)]
    mod = single_output_unwrapped(mod)
    with target:
        seq = tvm.transform.Sequential(layout + [
            relax.transform.DecomposeOpsForInference(),
            relax.transform.CanonicalizeBindings(),
            relax.transform.LiftTransformParams(),
            relax.backend.DispatchSampling(),
            relax.backend.DispatchSortScan(),
            relax.transform.LegalizeOps(),
            relax.transform.AnnotateTIROpPattern(),
            relax.transform.FoldConstant(),
            relax.transform.FuseOps(),
            relax.transform.FuseTIR(),
            relax.transform.DeadCodeElimination(),
        ])
        return seq(mod)


def single_output_unwrapped(mod: Any) -> Any:
    """``mod`` with a ``main`` that returns a one-tensor tuple changed to return the tensor: the frontends
    always return tuples, and taking a tensor out of the VM's array costs several microseconds a call.
    (No TIR changes, so tuning records stay valid.)"""
    from tvm import relax

    main = mod["main"]
    ret = main.ret_ty
    fields = getattr(ret, "fields", None)
    if fields is None or len(fields) != 1 or not isinstance(main.body, relax.SeqExpr):
        return mod
    body = relax.SeqExpr(main.body.blocks, relax.TupleGetItem(main.body.body, 0))
    out = mod.clone()
    out["main"] = relax.Function(main.params, body, fields[0], main.is_pure, main.attrs)
    return relax.transform.Normalize()(out)


def schedule(mod: Any, target: Any, tuning_dir: str | os.PathLike | None) -> Any:
    """Apply tuning records from ``tuning_dir`` (when given) and, for GPUs, default schedules to the
    functions no record covers."""
    import tvm
    from tvm import relax

    with target:
        passes = []
        if tuning_dir is not None and Path(tuning_dir, "database_tuning_record.json").exists():
            passes.append(relax.transform.MetaScheduleApplyDatabase(str(tuning_dir), enable_warning=False))
        if "gpu" in target.keys:
            from tvm.s_tir import dlight as dl

            passes.append(dl.ApplyDefaultSchedule(dl.gpu.Matmul(), dl.gpu.GEMV(), dl.gpu.Reduction(),
                                                  dl.gpu.GeneralReduction(), dl.gpu.Fallback()))
        return tvm.transform.Sequential(passes)(mod) if passes else mod


def lower(mod: Any, target: Any) -> Any:
    """``tvm.compile`` with the VM lowering passes of the target's backend (fusion already done)."""
    import tvm
    from tvm import relax

    if "gpu" in target.keys:
        from tvm.relax.backend.cuda import pipeline as backend
    else:
        from tvm.relax.backend.cpu_generic import pipeline as backend

    @tvm.transform.module_pass(opt_level=0)
    def _lower(m: Any, _ctx: Any) -> Any:
        with target:
            return tvm.transform.Sequential(backend.dataflow_lower_passes(target)
                                            + backend.finalize_passes(target))(m)

    return tvm.compile(mod, target, relax_pipeline=_lower)


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
    import importlib.util

    if "TVM_CUDA_COMPILE_MODE" in os.environ:
        return
    try:
        has_bindings = importlib.util.find_spec("cuda.bindings") is not None
    except ModuleNotFoundError:
        has_bindings = False
    from edge.cuda_aot import nvcc_path

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
        if StaticCall.possible(self._device, signature):
            self._static = StaticCall(self._main, self._weights, signature, self._device, self._lock)

    def check_inputs(self, arrays: Sequence[Any]) -> list[np.ndarray]:
        """Inputs as contiguous numpy arrays, or :class:`InputMismatchError` saying what is wrong."""
        if len(arrays) != len(self.inputs):
            names = ", ".join(f"{s.name}{_shape_text(s.shape)}" for s in self.inputs)
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
                    f"input '{spec.name}' must have shape {_shape_text(spec.shape)}, got {tuple(a.shape)}" + hint)
            out.append(np.ascontiguousarray(a))
        return out

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
        from edge.artifact import export

        return export(self, directory, cuda_aot=cuda_aot)


def _shape_text(shape: Sequence[int | None]) -> str:
    return "(" + ", ".join("batch" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _local_desc() -> str:
    from edge.targets import local_arch

    return f"{local_arch()}, no CUDA GPU" if not _cuda_here() else f"{local_arch()} with a CUDA GPU"


def _cuda_here() -> bool:
    from edge.targets import cuda_available

    return cuda_available()


def compile_model(model: Any, example_inputs: Sequence[Any] | None = None, target: str | TargetSpec = "host",
                  tune_trials: int = 0, dynamic_batch: bool | int = False, verify: bool = True, atol: float = 1e-4,
                  rtol: float = 1e-4, num_threads: int | None = None,
                  tuning_db: str | os.PathLike | None = None) -> CompiledModel:
    """Import (unless given an :class:`ImportedModel`), tune when ``tune_trials > 0``, compile for
    ``target`` and verify against the source model. See :func:`edge.compile_model`."""
    import tvm

    t_start = time.perf_counter()
    if tune_trials < 0:
        raise ConfigError("tune_trials must be 0 (no tuning) or a positive number of trials per task")
    imported = model if isinstance(model, ImportedModel) else import_model(model, example_inputs, dynamic_batch)
    dynamic_batch = imported.dynamic_batch
    spec = resolve(target) if not isinstance(target, TargetSpec) else target
    tvm_target = spec.tvm_target()
    t_import = time.perf_counter()
    prepared = prepare(imported.mod, tvm_target)

    tuning: dict[str, Any] = {"trials": 0, "records": 0, "database": None}
    db_dir: Path | None = None
    if tune_trials > 0 or tuning_db is not None:
        from edge import tuning as tuning_mod

        if dynamic_batch and tune_trials > 0:
            raise ConfigError("MetaSchedule tunes static shapes only: compile with dynamic_batch=False to tune")
        model_hash = f"{imported.structure_hash()}|{PIPELINE_VERSION}"
        db_dir = (tuning_mod.database_dir(model_hash, str(tvm_target)) if tuning_db is None
                  else tuning_mod.database_dir(model_hash, str(tvm_target), root=tuning_db))
        if tune_trials > 0:
            if not spec.runnable_here():
                raise ConfigError(f"tuning measures candidates on the device, and '{spec.name}' is not this "
                                  "machine; tune on the board (or a machine with the GPU), then pass its "
                                  "tuning_db here")
            with tvm_target:
                result = tuning_mod.tune(prepared, tvm_target, tune_trials, db_dir, model_hash, num_threads)
            tuning.update(result)
        tuning.update(database=str(db_dir), records=tuning_mod.record_count(db_dir))
        tuning.setdefault("trials", tune_trials)
    t_tuned = time.perf_counter()
    scheduled = schedule(prepared, tvm_target, db_dir)
    executable = lower(scheduled, tvm_target)
    t_built = time.perf_counter()

    host_exec = None if spec.runnable_here() else _host_build(imported, tvm_target)
    weights = transform_params(executable if host_exec is None else host_exec,
                               spec if host_exec is None else resolve("host"), imported.params)
    compiled = CompiledModel(executable, spec, list(imported.inputs), list(imported.outputs), weights,
                             imported.param_names, num_threads=num_threads)
    compiled.info = {
        "source": {"kind": imported.source_kind, "sha256": imported.source_sha256},
        "tuning": tuning,
        "build": {"tvm_version": tvm.__version__, "target": str(tvm_target), "dynamic_batch": dynamic_batch,
                  "max_batch": imported.max_batch,
                  "import_s": round(t_import - t_start, 3),
                  "tune_s": round(t_tuned - t_import, 3), "build_s": round(t_built - t_tuned, 3)},
    }
    compiled.info["verification"] = (_verify(compiled, imported, host_exec, atol, rtol) if verify
                                     else {"passed": None, "skipped": "verify=False"})
    compiled.info["build"]["total_s"] = round(time.perf_counter() - t_start, 3)
    return compiled


def _host_build(imported: ImportedModel, target: Any) -> Any:
    """The imported model compiled for this machine's CPU with ``target``'s layouts (the proxy for a
    target that cannot run here: the same Relax module and the same lifted weights)."""
    host_target = resolve("host").tvm_target()
    return lower(prepare(imported.mod, host_target, layout_like=target), host_target)


def transform_params(executable: Any, spec: TargetSpec, params: list[np.ndarray]) -> list[np.ndarray]:
    """Run the lifted weight transforms (``main_transform_params``) once, on ``spec``'s device: the
    weights ``main`` takes. The transforms are Relax-level (transposes, reshapes, layout changes), so a
    host build with the board's layouts computes them for the board."""
    import tvm
    from tvm import relax

    if spec.is_cuda:
        use_nvcc_for_jit()
    dev = tvm.cuda(0) if spec.is_cuda else tvm.cpu(0)
    vm = relax.VirtualMachine(executable, dev)
    if not vm.module.implements_function("main_transform_params"):
        return list(params)
    out = vm["main_transform_params"]([tvm.runtime.tensor(p, dev) for p in params])
    return [t.numpy() for t in out]


def _verify(compiled: CompiledModel, imported: ImportedModel, host_exec: Any, atol: float,
            rtol: float) -> dict[str, Any]:
    from edge.verify import sample_inputs, verify_model

    samples = sample_inputs(imported.example_inputs, dynamic_batch=imported.dynamic_batch)
    source = "PyTorch" if imported.source_kind == "torch" else "ONNX Runtime"
    hint = imported.hint
    if compiled.runnable():
        result = verify_model(compiled.run_list, imported.reference, samples, atol, rtol,
                              f"the model compiled for '{compiled.spec.name}'", source, hint)
        result["ran_on"] = compiled.spec.name
        return result
    # not runnable here: verify the same Relax module built for this machine's CPU, as a proxy
    host = resolve("host")
    proxy = CompiledModel(host_exec, host, compiled.inputs, compiled.outputs, compiled.params,
                          compiled.param_names, info={"build": {}}, num_threads=compiled.num_threads)
    result = verify_model(proxy.run_list, imported.reference, samples, atol, rtol,
                          f"the Relax module of the '{compiled.spec.name}' build, compiled for this CPU as a proxy,",
                          source, hint)
    result["ran_on"] = "host-proxy"
    result["note"] = (f"'{compiled.spec.name}' cannot run here; the same imported Relax module was compiled for "
                      "this machine's CPU and checked instead, as a proxy. Target code generation "
                      f"({'CUDA kernels, ' if compiled.spec.is_cuda else ''}{compiled.spec.cpu_arch} code) "
                      "is not covered: run the artifact on the device to check it.")
    return result
