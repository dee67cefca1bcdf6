"""Import an ONNX model (a file or a ``ModelProto``) into Relax.

The model is read and checked, rewritten into forms the TVM 0.27 frontend imports
(:mod:`edge.onnx_rewrites`; a few operators are converted by :mod:`edge.onnx_converters` instead), its
operators checked by domain and name (:mod:`edge.onnx_support`), its
input shapes fixed (declared static dimensions; example inputs or ``input_shapes`` for the free ones; a
free leading dimension is the batch), then converted inside the ``import`` stage, so a frontend failure
is an hwsim error naming the node. Given example inputs and static shapes, the model is specialised where
TVM needs constants (:mod:`edge.onnx_specialise`). The reference is ONNX Runtime on the model as given
(not rewritten).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from edge.errors import ModelFileError, UnsupportedOperator
from edge.onnx_converters import local_converters
from edge.onnx_rewrites import apply_rewrites
from edge.onnx_specialise import fold_shape_arithmetic, fold_static_shapes, specialise_shape_inputs
from edge.onnx_support import check_onnx_ops
from edge.specs import BATCH, ImportedModel, TensorSpec, as_numpy_list, bound_batch, output_specs, shape_text
from edge.stages import stage
from hwsim.errors import NotSupportedError, ShapeError

# ONNX element types that numpy (and so the artifact's inputs and outputs) carries
NUMPY_TYPES = frozenset({1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13})
SPECIAL_VALUE_OPS = frozenset({"IsInf", "IsNaN"})


def read_onnx(model: Any) -> tuple[Any, bytes, str]:
    """(ModelProto, serialised bytes, a label for messages) of an ONNX file path or a ``ModelProto``,
    checked with ``onnx.checker``."""
    import onnx

    if isinstance(model, onnx.ModelProto):
        proto, label = model, model.graph.name or "the ONNX model"
        blob = proto.SerializeToString()
    else:
        path = Path(model)
        label = path.name
        if not path.is_file():
            raise ModelFileError(f"model file {path} does not exist")
        blob = path.read_bytes()
        try:
            proto = onnx.load_from_string(blob)
        except Exception as exc:  # noqa: BLE001 - protobuf DecodeError and friends
            raise ModelFileError(f"{path} is not a readable ONNX model ({type(exc).__name__}: {exc}); "
                                 "re-export it with torch.onnx.export or check the file was fully copied") from exc
    try:
        onnx.checker.check_model(proto)
    except Exception as exc:  # noqa: BLE001 - onnx.checker.ValidationError
        raise ModelFileError(f"{label} is not a valid ONNX model: {exc}") from exc
    if not proto.graph.node:
        raise ModelFileError(f"{label} holds an ONNX graph with no nodes; is it the right file?")
    return proto, blob, label


def _declared(inp: Any, label: str) -> tuple[str, list[int | None] | None]:
    """(numpy dtype, declared dims with None for free ones, or None for an unknown rank) of a graph input."""
    import onnx

    if inp.type.WhichOneof("value") != "tensor_type":
        raise NotSupportedError(f"input '{inp.name}' of {label} is a {inp.type.WhichOneof('value')}, not a tensor; "
                                "hwsim compiles models whose inputs are tensors")
    ttype = inp.type.tensor_type
    if ttype.elem_type not in NUMPY_TYPES:
        name = onnx.TensorProto.DataType.Name(ttype.elem_type)
        raise NotSupportedError(f"input '{inp.name}' of {label} has element type {name}, which numpy (and so an "
                                "artifact's inputs) cannot carry; cast it to float32/float16/int at the model's "
                                "input (a Cast node) and compile that")
    dtype = onnx.helper.tensor_dtype_to_np_dtype(ttype.elem_type).name
    if not ttype.HasField("shape"):
        return dtype, None
    return dtype, [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in ttype.shape.dim]


def _check_outputs(graph: Any, label: str) -> None:
    import onnx

    for out in graph.output:
        if out.type.WhichOneof("value") == "tensor_type":
            elem = out.type.tensor_type.elem_type
            if elem and elem not in NUMPY_TYPES:
                raise NotSupportedError(f"output '{out.name}' of {label} has element type "
                                        f"{onnx.TensorProto.DataType.Name(elem)}, which numpy cannot carry; add a "
                                        "Cast to float32 (or an integer type) before the output and compile that")
        elif out.type.WhichOneof("value") is not None:
            raise NotSupportedError(f"output '{out.name}' of {label} is a {out.type.WhichOneof('value')}, not a "
                                    "tensor; hwsim compiles models whose outputs are tensors")


def _free_dims_error(name: str, declared: list[int | None] | None, label: str) -> ShapeError:
    dims = "unknown rank" if declared is None else ", ".join(
        f"dimension {i}" for i, d in enumerate(declared) if d is None and i > 0)
    shown = "?" if declared is None else shape_text(["?" if d is None else d for d in declared])  # type: ignore[misc]
    return ShapeError(f"input '{name}' of {label} has free dimensions ({dims}; declared {shown}) and no size "
                      f"was given; give its shape with --input-shape {name}=D0,D1,... on the command line "
                      f"(input_shapes={{'{name}': (...)}} in Python) or pass example inputs")


def concrete_shapes(inputs: Sequence[Any], label: str, examples: list[np.ndarray] | None,
                    input_shapes: Mapping[str, Sequence[int]] | None) -> list[tuple[str, list[int]]]:
    """(dtype, concrete shape) per graph input: from the examples, else ``input_shapes``, else the
    declared shape with a free leading dimension (the batch) set to 1."""
    shapes = dict(input_shapes or {})
    unknown = set(shapes) - {i.name for i in inputs}
    if unknown:
        raise ShapeError(f"--input-shape names {', '.join(sorted(unknown))}, which {label} does not have; its "
                         f"inputs are {', '.join(i.name for i in inputs)}")
    out = []
    for k, inp in enumerate(inputs):
        dtype, declared = _declared(inp, label)
        if examples is not None:
            concrete = list(examples[k].shape)
        elif inp.name in shapes:
            concrete = [int(d) for d in shapes[inp.name]]
        elif declared is not None and all(d is not None for d in declared[1:]):
            concrete = [1 if d is None else d for d in declared]
        else:
            raise _free_dims_error(inp.name, declared, label)
        if declared is not None and (len(concrete) != len(declared) or any(
                d is not None and d != c for d, c in zip(declared, concrete))):
            given = "example input" if examples is not None else "--input-shape"
            raise ShapeError(f"the {given} for '{inp.name}' has shape {shape_text(concrete)} but {label} declares "
                             f"{shape_text(['?' if d is None else d for d in declared])}")  # type: ignore[misc]
        if any(c < 0 for c in concrete):
            raise ShapeError(f"input '{inp.name}': dimensions must be >= 0, got {shape_text(concrete)}")
        out.append((dtype, concrete))
    return out


def _example(rng: np.random.Generator, shape: list[int], dtype: str) -> np.ndarray:
    if np.dtype(dtype).kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    return np.zeros(shape, dtype)


def _uses(graph: Any, ops: frozenset[str]) -> bool:
    for node in graph.node:
        if node.op_type in ops:
            return True
        for attr in node.attribute:
            subs = ([attr.g] if attr.HasField("g") else []) + list(attr.graphs)
            if any(_uses(g, ops) for g in subs):
                return True
    return False


def ort_reference(blob: bytes, names: Sequence[str]) -> Any:
    """A function running the ONNX model ``blob`` in ONNX Runtime (CPU, one thread) on arrays for the
    inputs ``names``; session creation and runs are the ``reference`` stage."""
    session: list[Any] = []

    def reference(*arrays: np.ndarray) -> list[np.ndarray]:
        import onnxruntime as ort

        with stage("reference", "ONNX Runtime (the reference the compiled model is checked against)"):
            if not session:
                opts = ort.SessionOptions()
                opts.intra_op_num_threads = 1
                opts.log_severity_level = 3
                session.append(ort.InferenceSession(blob, opts, providers=["CPUExecutionProvider"]))
            feeds = {n: np.asarray(a) for n, a in zip(names, arrays)}
            return [np.asarray(o) for o in session[0].run(None, feeds)]

    return reference


def import_onnx(model: Any, example_inputs: Sequence[Any] | None, max_batch: int | None,
                input_shapes: Mapping[str, Sequence[int]] | None = None) -> ImportedModel:
    """``model`` (a path or a ``ModelProto``) in Relax form; see the module doc."""
    import onnx
    import tvm
    from tvm import relax
    from tvm.relax.frontend.onnx import from_onnx

    original, blob, label = read_onnx(model)
    init_names = {t.name for t in original.graph.initializer}
    user_inputs = [i for i in original.graph.input if i.name not in init_names]
    for inp in user_inputs:
        _declared(inp, label)  # sequences, optionals, strings, bfloat16...: refused before anything else
    examples = as_numpy_list(example_inputs) if example_inputs is not None else None
    if examples is not None and len(examples) != len(user_inputs):
        raise ShapeError(f"{label} has {len(user_inputs)} inputs ({', '.join(i.name for i in user_inputs)}) "
                         f"but {len(examples)} example inputs were given")
    shapes = concrete_shapes(user_inputs, label, examples, input_shapes)
    proto = onnx.ModelProto()
    proto.CopyFrom(original)
    rewrites = apply_rewrites(proto)
    renamed = [i.name for i in proto.graph.input]  # the user's inputs, in order, renamed to identifiers
    dynamic = max_batch is not None
    frozen: set[str] = set()
    if examples is not None and not dynamic:
        frozen = set(specialise_shape_inputs(proto, dict(zip(renamed, examples))))
    if not dynamic:
        folded = fold_static_shapes(proto, {n: c for n, (_, c) in zip(renamed, shapes)})
        if folded:
            rewrites["static-shapes"] = folded
            arithmetic = fold_shape_arithmetic(proto)
            if arithmetic:
                rewrites["shape-arithmetic"] = arithmetic
    if frozen:
        rewrites["specialised-inputs"] = len(frozen)
    check_onnx_ops(proto.graph)
    _check_outputs(proto.graph, label)
    rng = np.random.default_rng(0)
    shape_dict: dict[str, list[Any]] = {}
    dtype_dict: dict[str, str] = {}
    specs: list[TensorSpec] = []
    example_np: list[np.ndarray] = []
    batch_var = tvm.tirx.Var(BATCH, "int64")
    for k, (name, user, (dtype, concrete)) in enumerate(zip(renamed, user_inputs, shapes)):
        if dynamic and not concrete:
            raise ShapeError(f"input {user.name} is a scalar; dynamic_batch needs a batch dimension")
        example = examples[k].astype(dtype, copy=False) if examples is not None else _example(rng, concrete, dtype)
        example_np.append(example)
        if name in frozen:
            specs.append(TensorSpec(user.name, tuple(int(c) for c in concrete), dtype, None, example.copy()))
            continue
        shape_dict[name] = [batch_var if (dynamic and i == 0) else c for i, c in enumerate(concrete)]
        dtype_dict[name] = dtype
        specs.append(TensorSpec(user.name, tuple(None if (dynamic and i == 0) else int(c)
                                                for i, c in enumerate(concrete)), dtype, max_batch))
    n_runtime = len(specs) - len(frozen)
    with stage("import", f"the TVM ONNX frontend converting {label}"), warnings.catch_warnings(), \
            contextlib.redirect_stdout(io.StringIO()), local_converters():
        warnings.simplefilter("ignore")
        try:
            mod = from_onnx(proto, shape_dict=shape_dict, dtype_dict=dtype_dict, keep_params_in_input=True,
                            sanitize_input_names=False)
        except tvm.error.OpNotImplemented as exc:  # the pre-check should have caught it
            raise UnsupportedOperator("ONNX", {str(exc): ["?"]}) from exc
        mod, params = relax.frontend.detach_params(mod)
        np_params = [p.numpy() for p in params.get("main", [])]
        mod = bound_batch(mod, n_runtime, max_batch)
        main = mod["main"]
        outputs = output_specs(main)
    param_names = [v.name for v in main.params[n_runtime:]]
    return ImportedModel(mod, np_params, param_names, specs, outputs, "onnx", hashlib.sha256(blob).hexdigest(),
                         example_np, ort_reference(blob, [s.name for s in specs]), max_batch,
                         rewrites=rewrites, special_values=_uses(proto.graph, SPECIAL_VALUE_OPS))


def is_onnx(model: Any) -> bool:
    """True when ``model`` is an ONNX ``ModelProto`` or the path of a file (ending in ``.onnx``, or any
    existing file that is not Python)."""
    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
        return path.suffix == ".onnx" or (path.is_file() and path.suffix != ".py")
    return type(model).__name__ == "ModelProto" and hasattr(model, "graph")
