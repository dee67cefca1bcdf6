"""Compile an imported model with TVM 0.27 for a named target, verify it, and run it.

Pipeline: on CPU targets, convolutions converted to NHWC activations and HWIO weights (output channels
innermost, so kernels vectorise over channels instead of over a 4- or 8-pixel row) where the layout
conversion works for the model, NCHW where it fails (the manifest says which and why); then the weights
of plain convolutions and of products by weight matrices packed a vector of output channels at a time
(:mod:`edge.weight_packing`) and erf/tanh/sigmoid/gelu/silu/softmax in vectorisable forms (:mod:`edge.fast_math`);
inference decompositions, weight transforms lifted into ``main_transform_params`` (run once at compile time, so
artifacts carry the weights as ``main`` takes them), legalization to TIR, operator fusion (``tvm.compile``
alone does not fuse on LLVM), tuning records applied when a database is given, default schedules for
what no record covers (:mod:`edge.cpu_schedules` on CPUs, DLight on CUDA), then the Relax VM lowering of
``tvm.compile``. Every TVM call runs in a named stage (:mod:`edge.stages`): a failure is an hwsim error
naming the stage and the operator.
"""

from __future__ import annotations

import importlib.util
import os
import time
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from edge import tuning as tuning_mod
from edge.compiled import CompiledModel, use_nvcc_for_jit
from edge.cpu_schedules import cpu_default_schedule
from edge.cpu_schedules.base import vector_lanes
from edge.errors import CompileStageError, VerificationError
from edge.fast_math import fast_math
from edge.importer import import_model
from edge.memory_guard import memory_ceiling
from edge.specs import ImportedModel
from edge.stages import stage
from edge.targets import TargetSpec, resolve
from edge.tracker import BoardFarm
from edge.verify import sample_inputs, verify_model
from edge.weight_packing import CONV2D, legalize_packed_conv2d, pack_weights
from hwsim.errors import ConfigError

# what prepare() does, in the key of tuning databases: records tuned for another pipeline do not apply
PIPELINE_VERSION = "cpu-nhwc-3"
CPU_CONV_LAYOUT = {"relax.nn.conv2d": ["NHWC", "HWIO"]}
NHWC, NCHW = "NHWC", "NCHW"


def _has_conv2d(mod: Any) -> bool:
    from tvm import relax

    found = []

    def visit(expr: Any) -> None:
        if isinstance(expr, relax.Call) and getattr(expr.op, "name", "") == "relax.nn.conv2d":
            found.append(expr)

    for _, func in mod.functions_items():
        if isinstance(func, relax.Function):
            relax.analysis.post_order_visit(func.body, visit)
            if found:
                return True
    return False


def wants_nhwc(mod: Any, target: Any, layout_like: Any = None) -> bool:
    """True when the NHWC conversion is worth trying: a CPU layout and at least one 2-D convolution."""
    return "gpu" not in (layout_like or target).keys and _has_conv2d(mod)


def prepare(mod: Any, target: Any, layout_like: Any = None, nhwc: bool | None = None) -> Any:
    """Relax passes up to fused TIR (the form that is tuned and that tuning records apply to). Tensor
    layouts are chosen for ``layout_like`` (default: ``target``), so a CPU proxy of a GPU build keeps the
    GPU's layouts and computes the same weights; ``nhwc`` forces the CPU convolution layout on or off."""
    import tvm
    from tvm import relax

    mod = single_output_unwrapped(mod)
    if nhwc is None:
        nhwc = wants_nhwc(mod, target, layout_like)
    with target:
        if nhwc:
            with stage("layout", "the NHWC layout conversion (relax.transform.ConvertLayout)"):
                mod = relax.transform.ConvertLayout(CPU_CONV_LAYOUT)(mod)
        legalize = None
        if "gpu" not in (layout_like or target).keys:
            with stage("layout", "packing the weights of convolutions and products (edge.weight_packing)"):
                mod = pack_weights(mod, vector_lanes(target))
            with stage("legalize", "vectorisable erf, tanh, sigmoid, gelu, silu and softmax (edge.fast_math)"):
                mod = fast_math(mod)
            legalize = {CONV2D: legalize_packed_conv2d}
        seq = tvm.transform.Sequential([
            relax.transform.DecomposeOpsForInference(),
            relax.transform.CanonicalizeBindings(),
            relax.transform.LiftTransformParams(),
            relax.backend.DispatchSampling(),
            relax.backend.DispatchSortScan(),
            relax.transform.LegalizeOps(legalize),
            relax.transform.AnnotateTIROpPattern(),
            relax.transform.FoldConstant(),
            relax.transform.FuseOps(),
            relax.transform.FuseTIR(),
            relax.transform.DeadCodeElimination(),
        ])
        with stage("legalize", "legalisation and fusion (LegalizeOps, FuseOps, FuseTIR)"):
            return seq(mod)


def prepare_with_layout(mod: Any, target: Any, layout_like: Any = None, nhwc: bool | None = None
                        ) -> tuple[Any, dict[str, Any]]:
    """:func:`prepare` with NHWC where it works: when the conversion or the passes after it fail, the
    module is prepared in its own layout instead. Returns (prepared module, layout record)."""
    want = wants_nhwc(mod, target, layout_like) if nhwc is None else nhwc
    if not want:
        return prepare(mod, target, layout_like, nhwc=False), {"conv_layout": NCHW, "nhwc_tried": False}
    try:
        return prepare(mod, target, layout_like, nhwc=True), {"conv_layout": NHWC, "nhwc_tried": True}
    except CompileStageError as exc:
        record = {"conv_layout": NCHW, "nhwc_tried": True,
                  "fallback": f"the NHWC conversion failed ({exc.stage} stage: {exc.reason}); built in NCHW"}
        return prepare(mod, target, layout_like, nhwc=False), record


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


def schedule(mod: Any, target: Any, tuning_dir: str | os.PathLike | None, default_schedules: bool = True) -> Any:
    """Apply tuning records from ``tuning_dir`` (when given), then default schedules to the functions no
    record covers: DLight's GPU rules for CUDA, :mod:`edge.cpu_schedules` for CPUs (unless
    ``default_schedules`` is False: TVM's unscheduled loops, the ablation)."""
    import tvm
    from tvm import relax

    with target, stage("schedule", "applying tuning records and default schedules"):
        passes = []
        if tuning_dir is not None and Path(tuning_dir, "database_tuning_record.json").exists():
            passes.append(relax.transform.MetaScheduleApplyDatabase(str(tuning_dir), enable_warning=False))
        if "gpu" in target.keys:
            from tvm.s_tir import dlight as dl

            passes.append(dl.ApplyDefaultSchedule(dl.gpu.Matmul(), dl.gpu.GEMV(), dl.gpu.Reduction(),
                                                  dl.gpu.GeneralReduction(), dl.gpu.Fallback()))
        elif default_schedules:
            passes.append(cpu_default_schedule())
        return tvm.transform.Sequential(passes)(mod) if passes else mod


def lower(mod: Any, target: Any) -> Any:
    """``tvm.compile`` with the VM lowering passes of the target's backend (fusion already done), under
    a memory ceiling (:mod:`edge.memory_guard`)."""
    import tvm

    if "gpu" in target.keys:
        from tvm.relax.backend.cuda import pipeline as backend
    else:
        from tvm.relax.backend.cpu_generic import pipeline as backend

    @tvm.transform.module_pass(opt_level=0)
    def _lower(m: Any, _ctx: Any) -> Any:
        with target:
            return tvm.transform.Sequential(backend.dataflow_lower_passes(target)
                                            + backend.finalize_passes(target))(m)

    with memory_ceiling() as ceiling:
        try:
            with stage("build", f"code generation for {target.kind.name} (tvm.compile)"):
                return tvm.compile(mod, target, relax_pipeline=_lower)
        except CompileStageError as exc:
            if ceiling and ("bad_alloc" in exc.reason or "MemoryError" in exc.reason):
                raise CompileStageError("build", f"the build needed more than {ceiling / 2**30:.1f} GB of memory "
                                        f"and was stopped ({exc.reason}); free memory, set HWSIM_BUILD_MEMORY_GB "
                                        "higher, or compile a smaller model", exc.op, exc.reason) from exc
            raise


def compile_model(model: Any, example_inputs: Sequence[Any] | None = None, target: str | TargetSpec = "host",
                  tune_trials: int = 0, dynamic_batch: bool | int = False, verify: bool = True, atol: float = 1e-4,
                  rtol: float = 1e-4, num_threads: int | None = None,
                  tuning_db: str | os.PathLike | None = None,
                  input_shapes: Mapping[str, Sequence[int]] | None = None,
                  default_schedules: bool = True, farm: BoardFarm | None = None) -> CompiledModel:
    """Import (unless given an :class:`ImportedModel`), tune when ``tune_trials > 0``, compile for
    ``target`` and verify against the source model. See :func:`edge.compile_model`."""
    import tvm

    t_start = time.perf_counter()
    if tune_trials < 0:
        raise ConfigError("tune_trials must be 0 (no tuning) or a positive number of trials per task")
    imported = model if isinstance(model, ImportedModel) else import_model(model, example_inputs, dynamic_batch,
                                                                           input_shapes)
    spec = resolve(target) if not isinstance(target, TargetSpec) else target
    tvm_target = spec.tvm_target()
    t_import = time.perf_counter()
    compiled, host_exec, timings = _build(imported, spec, tvm_target, tune_trials, tuning_db, num_threads,
                                          default_schedules, farm=farm)
    compiled.info["source"] = {"kind": imported.source_kind, "sha256": imported.source_sha256,
                               **({"rewrites": imported.rewrites} if imported.rewrites else {})}
    compiled.info["build"].update({"tvm_version": tvm.__version__, "target": str(tvm_target),
                                   "dynamic_batch": imported.dynamic_batch, "max_batch": imported.max_batch,
                                   "import_s": round(t_import - t_start, 3), **timings})
    if not verify:
        compiled.info["verification"] = {"passed": None, "skipped": "verify=False"}
    elif imported.source_kind == "onnx" and importlib.util.find_spec("onnxruntime") is None:
        warnings.warn("onnxruntime is not installed: the compiled ONNX model was not verified "
                      "(pip install onnxruntime)", stacklevel=2)
        compiled.info["verification"] = {"passed": None, "skipped": "onnxruntime is not installed"}
    else:
        try:
            compiled.info["verification"] = _verify(compiled, imported, host_exec, atol, rtol)
        except VerificationError as exc:
            if compiled.info["build"]["layout"]["conv_layout"] != NHWC:
                raise
            # the NHWC build disagrees: build the model in its own layout and check that instead
            retry, host_exec, retry_timings = _build(imported, spec, tvm_target, tune_trials, tuning_db, num_threads,
                                             default_schedules, nhwc=False, farm=farm)
            retry.info["source"] = compiled.info["source"]
            retry.info["build"] = {**compiled.info["build"], **retry_timings}
            retry.info["build"]["layout"].update(nhwc_tried=True, fallback=(
                f"the NHWC build disagreed with the reference ({exc.where}, max abs error "
                f"{exc.max_abs_error:.3g}); built in NCHW"))
            compiled = retry
            compiled.info["verification"] = _verify(compiled, imported, host_exec, atol, rtol)
    compiled.info["build"]["total_s"] = round(time.perf_counter() - t_start, 3)
    return compiled


def _build(imported: ImportedModel, spec: TargetSpec, tvm_target: Any, tune_trials: int,
           tuning_db: str | os.PathLike | None, num_threads: int | None, default_schedules: bool,
           nhwc: bool | None = None, farm: BoardFarm | None = None) -> tuple[CompiledModel, Any, dict[str, Any]]:
    """Prepare, tune, schedule, lower and transform the weights: (compiled model, the host-CPU proxy
    build when the target cannot run here, timings with the layout record)."""
    t0 = time.perf_counter()
    prepared, layout = prepare_with_layout(imported.mod, tvm_target, nhwc=nhwc)
    t_prepared = time.perf_counter()
    tuning: dict[str, Any] = {"trials": 0, "records": 0, "database": None}
    db_dir: Path | None = None
    if tune_trials > 0 or tuning_db is not None:
        if imported.dynamic_batch and tune_trials > 0:
            raise ConfigError("MetaSchedule tunes static shapes only: compile with dynamic_batch=False to tune")
        model_hash = f"{imported.structure_hash()}|{PIPELINE_VERSION}|{layout['conv_layout']}"
        db_dir = tuning_mod.database_dir(model_hash, str(tvm_target), root=tuning_db)
        if tune_trials > 0:
            if not spec.runnable_here() and farm is None:
                raise ConfigError(f"tuning measures candidates on the device, and '{spec.name}' is not this "
                                  "machine; tune on the boards through a TVM RPC tracker (--tracker HOST:PORT "
                                  "--key KEY), or on the board itself and pass its tuning_db here")
            with tvm_target:
                tuning.update(tuning_mod.tune(prepared, tvm_target, tune_trials, db_dir, model_hash, num_threads,
                                              farm=farm))
        tuning.update(database=str(db_dir), records=tuning_mod.record_count(db_dir))
        tuning.setdefault("trials", tune_trials)
    t_tuned = time.perf_counter()
    scheduled = schedule(prepared, tvm_target, db_dir, default_schedules)
    executable = lower(scheduled, tvm_target)
    t_built = time.perf_counter()
    host_exec = None if spec.runnable_here() else _host_build(imported, tvm_target, layout)
    weights = transform_params(executable if host_exec is None else host_exec,
                               spec if host_exec is None else resolve("host"), imported.params)
    compiled = CompiledModel(executable, spec, list(imported.inputs), list(imported.outputs), weights,
                             imported.param_names, num_threads=num_threads)
    compiled.info = {"tuning": tuning, "build": {"layout": layout}}
    timings = {"prepare_s": round(t_prepared - t0, 3), "tune_s": round(t_tuned - t_prepared, 3),
               "build_s": round(t_built - t_tuned, 3), "default_schedules": bool(default_schedules),
               "layout": layout}
    return compiled, host_exec, timings


def _host_build(imported: ImportedModel, target: Any, layout: dict[str, Any]) -> Any:
    """The imported model compiled for this machine's CPU with ``target``'s layouts (the proxy for a
    target that cannot run here: the same Relax module and the same lifted weights)."""
    host_target = resolve("host").tvm_target()
    prepared = prepare(imported.mod, host_target, layout_like=target, nhwc=layout["conv_layout"] == NHWC)
    return lower(schedule(prepared, host_target, None), host_target)


def transform_params(executable: Any, spec: TargetSpec, params: list[np.ndarray]) -> list[np.ndarray]:
    """Run the lifted weight transforms (``main_transform_params``) once, on ``spec``'s device: the
    weights ``main`` takes. The transforms are Relax-level (transposes, reshapes, layout changes), so a
    host build with the board's layouts computes them for the board."""
    import tvm
    from tvm import relax

    if spec.is_cuda:
        use_nvcc_for_jit()
    with stage("weights", "the lifted weight transforms (main_transform_params)"):
        dev = tvm.cuda(0) if spec.is_cuda else tvm.cpu(0)
        vm = relax.VirtualMachine(executable, dev)
        if not vm.module.implements_function("main_transform_params"):
            return list(params)
        out = vm["main_transform_params"]([tvm.runtime.tensor(p, dev) for p in params])
        return [t.numpy() for t in out]


def _verify(compiled: CompiledModel, imported: ImportedModel, host_exec: Any, atol: float,
            rtol: float) -> dict[str, Any]:
    samples = sample_inputs(imported.example_inputs, dynamic_batch=imported.dynamic_batch,
                            special_values=imported.special_values,
                            fixed=[k for k, s in enumerate(imported.inputs) if s.value is not None])
    source = "PyTorch" if imported.source_kind == "torch" else "ONNX Runtime"
    if compiled.runnable():
        with stage("verify", f"running the model compiled for '{compiled.spec.name}' on sample inputs"):
            result = verify_model(compiled.run_list, imported.reference, samples, atol, rtol,
                                  f"the model compiled for '{compiled.spec.name}'", source, imported.hint)
        result["ran_on"] = compiled.spec.name
        return result
    # not runnable here: verify the same Relax module built for this machine's CPU, as a proxy
    host = resolve("host")
    proxy = CompiledModel(host_exec, host, compiled.inputs, compiled.outputs, compiled.params,
                          compiled.param_names, info={"build": {}}, num_threads=compiled.num_threads)
    with stage("verify", "running the host-CPU proxy build on sample inputs"):
        result = verify_model(proxy.run_list, imported.reference, samples, atol, rtol,
                              f"the Relax module of the '{compiled.spec.name}' build, compiled for this CPU as a "
                              "proxy,", source, imported.hint)
    result["ran_on"] = "host-proxy"
    result["note"] = (f"'{compiled.spec.name}' cannot run here; the same imported Relax module was compiled for "
                      "this machine's CPU and checked instead, as a proxy. Target code generation "
                      f"({'CUDA kernels, ' if compiled.spec.is_cuda else ''}{compiled.spec.cpu_arch} code) "
                      "is not covered: run the artifact on the device to check it.")
    return result
