"""Import a PyTorch module (through ``torch.export``) or an ONNX file into a Relax IRModule.

Operators are checked against the frontend's converter table *before* conversion, so an unsupported
operator is reported by name and by the model node that uses it (:class:`~edge.errors.UnsupportedOperator`)
instead of as a TVM stack trace. The imported module keeps the weights as inputs after the model inputs
(``num_input`` attribute), so an artifact carries them as a separate params file.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from hwsim.errors import ConfigError, ShapeError
from edge.errors import ModelFileError, UnsupportedOperator
from edge.tensors import to_numpy, tvm_types

BATCH = "batch"  # name of the symbolic batch dimension
# largest batch of a dynamic-batch model unless one is given: Relax plans the intermediate buffers for it,
# so a model reserves this batch's activations (a bound of 2**20 reserved 32 GiB for the digits CNN)
DEFAULT_MAX_BATCH = 256


@dataclass(frozen=True)
class TensorSpec:
    """Name, shape (``None`` for the symbolic batch dimension), dtype of a model input or output, and the
    largest batch the symbolic dimension takes (``None``: unbounded or static)."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str
    max_batch: int | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain-JSON form (``"batch"`` for a symbolic dimension)."""
        out: dict[str, Any] = {"name": self.name, "shape": [BATCH if d is None else int(d) for d in self.shape],
                               "dtype": self.dtype}
        if self.max_batch is not None:
            out["max_batch"] = self.max_batch
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TensorSpec":
        """Inverse of :meth:`to_json`."""
        return cls(data["name"], tuple(None if d == BATCH else int(d) for d in data["shape"]), data["dtype"],
                   data.get("max_batch"))

    def matches(self, shape: Sequence[int]) -> bool:
        """True when a concrete ``shape`` fits this spec."""
        return len(shape) == len(self.shape) and all(
            s == d if d is not None else (self.max_batch is None or 1 <= s <= self.max_batch)
            for d, s in zip(self.shape, shape))


@dataclass
class ImportedModel:
    """A model in Relax form: ``mod["main"]`` takes the inputs then the weights (``params``)."""

    mod: Any  # tvm.IRModule
    params: list[np.ndarray]
    param_names: list[str]
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    source_kind: str  # "torch" | "onnx"
    source_sha256: str
    example_inputs: list[np.ndarray]
    reference: Callable[..., list[np.ndarray]] = field(repr=False)
    max_batch: int | None = None  # the bound of the symbolic batch; None for a static model
    hint: str = ""  # known frontend pitfalls found in the model, quoted if verification fails

    @property
    def dynamic_batch(self) -> bool:
        """True when dimension 0 of the inputs is symbolic."""
        return self.max_batch is not None

    def structure_hash(self) -> str:
        """Hash of the IRModule's structure and the parameter shapes/dtypes (not their values): the key
        under which tuning records are kept."""
        h = hashlib.sha256(self.mod.script().encode())
        for p in self.params:
            h.update(f"{p.shape}:{p.dtype};".encode())
        return h.hexdigest()


def batch_bound(dynamic_batch: bool | int) -> int | None:
    """The largest batch ``dynamic_batch`` asks for: ``None`` when static, :data:`DEFAULT_MAX_BATCH` for
    ``True``, else the number itself (at least 2)."""
    if not dynamic_batch:
        return None
    if dynamic_batch is True:
        return DEFAULT_MAX_BATCH
    if int(dynamic_batch) != dynamic_batch or int(dynamic_batch) < 2:
        raise ConfigError(f"dynamic_batch must be True, False or the largest batch (>= 2), got {dynamic_batch!r}")
    return int(dynamic_batch)


def import_model(model: Any, example_inputs: Sequence[Any] | None = None,
                 dynamic_batch: bool | int = False) -> ImportedModel:
    """Import ``model`` (a ``torch.nn.Module`` or the path of an ONNX file) into Relax.

    ``example_inputs`` fix the input shapes (required for a torch module; optional for ONNX, whose
    declared shapes are used with free dimensions set to 1). ``dynamic_batch`` makes dimension 0 of
    every input symbolic, up to :data:`DEFAULT_MAX_BATCH` or, given a number, up to that batch (the memory
    planner reserves activations for the largest batch)."""
    max_batch = batch_bound(dynamic_batch)
    if isinstance(model, (str, os.PathLike)):
        return _import_onnx(Path(model), example_inputs, max_batch)
    try:
        import torch
    except ImportError as exc:  # pragma: no cover
        raise ConfigError("importing a torch module needs torch installed") from exc
    if isinstance(model, torch.nn.Module):
        return _import_torch(model, example_inputs, max_batch)
    raise ConfigError(f"cannot import a {type(model).__name__}: pass a torch.nn.Module with example inputs, "
                      "or the path of an .onnx file")


def _as_numpy_list(arrays: Sequence[Any]) -> list[np.ndarray]:
    out = []
    for a in arrays:
        if hasattr(a, "detach"):
            a = a.detach().cpu().numpy()
        out.append(np.ascontiguousarray(np.asarray(a)))
    return out


def flatten_outputs(value: Any) -> list[np.ndarray]:
    """A model's output (tensor, tuple/list, dict, TVM tensor/array) as a flat list of numpy arrays."""
    tensor, array = tvm_types()  # by exact type first: attribute probes on TVM objects cost microseconds
    if type(value) is tensor:
        return [to_numpy(value)]
    if type(value) is array:
        return [a for v in value for a in flatten_outputs(v)]
    if isinstance(value, dict):
        return [a for v in value.values() for a in flatten_outputs(v)]
    if isinstance(value, (list, tuple)):
        return [a for v in value for a in flatten_outputs(v)]
    if hasattr(value, "detach"):
        return [value.detach().cpu().numpy()]
    if hasattr(value, "device") and hasattr(value, "numpy"):  # a subclass of TVM's tensor
        return [to_numpy(value)]
    if hasattr(value, "numpy"):
        return [value.numpy()]
    if type(value).__name__ == "Array":  # tvm_ffi container
        return [a for v in value for a in flatten_outputs(v)]
    return [np.asarray(value)]


# ------------------------------------------------------------------ torch


def _torch_source_hash(ep: Any, state: dict[str, Any]) -> str:
    h = hashlib.sha256(ep.graph_module.code.encode())
    for name in sorted(state):
        t = state[name]
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _node_where(node: Any) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    path = list(stack.values())[-1][0] if stack else ""
    return f"{node.name} (module '{path}')" if path else node.name


def check_torch_ops(ep: Any) -> None:
    """Raise :class:`UnsupportedOperator` listing every operator of the (decomposed) exported program that
    the Relax torch frontend has no converter for, with the nodes that use them."""
    from tvm.relax.frontend.torch.exported_program_translator import ExportedProgramImporter

    table = ExportedProgramImporter().convert_map
    missing: dict[str, list[str]] = {}
    for gm in ep.graph_module.modules():
        graph = getattr(gm, "graph", None)
        if graph is None:
            continue
        for node in graph.nodes:
            if node.op == "call_function":
                op = getattr(node.target, "__name__", str(node.target))
                if op not in table:
                    missing.setdefault(op, []).append(_node_where(node))
    if missing:
        raise UnsupportedOperator("PyTorch (torch.export)", missing)


def negative_index_hint(ep: Any) -> str:
    """A sentence naming the nodes that index with a negative constant (miscompiled by the TVM 0.27 torch
    frontend), or an empty string."""
    found = []
    for node in ep.graph.nodes:
        if node.op != "call_function":
            continue
        op = getattr(node.target, "__name__", "")
        args = list(node.args)
        if op.startswith("select") and len(args) >= 3 and isinstance(args[2], int) and args[2] < 0:
            found.append(_node_where(node))
        elif op.startswith("slice") and any(isinstance(a, int) and a < 0 for a in args[2:4]):
            found.append(_node_where(node))
    if not found:
        return ""
    return (f"Likely cause: negative indexing at {', '.join(found[:5])}, which the TVM 0.27 torch frontend "
            "miscompiles (x[:, -1] becomes an out-of-bounds take); index from the front instead, "
            "e.g. x[:, x.shape[1] - 1] or x.narrow(1, x.shape[1] - 1, 1).squeeze(1).")


def _import_torch(model: Any, example_inputs: Sequence[Any] | None, max_batch: int | None) -> ImportedModel:
    import torch
    from torch.export import Dim
    from tvm import relax
    from tvm.relax.frontend.torch import from_exported_program

    if not example_inputs:
        raise ConfigError("a torch module needs example_inputs (a tuple of tensors with the input shapes)")
    if isinstance(example_inputs, torch.Tensor):
        example_inputs = (example_inputs,)
    examples = tuple(t if isinstance(t, torch.Tensor) else torch.as_tensor(np.asarray(t)) for t in example_inputs)
    was_training = model.training
    model.eval()
    try:
        export_args = examples
        dyn = None
        if max_batch is not None:
            # torch.export specialises a dimension of size 1, so export with a batch of 2
            export_args = tuple(t.repeat(2, *([1] * (t.dim() - 1))) if t.shape[0] == 1 else t for t in examples)
            batch = Dim(BATCH, min=1, max=max_batch)
            dyn = tuple({0: batch} for _ in export_args)
        try:
            ep = torch.export.export(model, export_args, dynamic_shapes=dyn)
        except Exception as exc:  # noqa: BLE001 - torch raises many kinds; all mean "cannot export"
            hint = " (does the model mix the batch dimension with others?)" if max_batch is not None else ""
            raise ModelFileError(f"torch.export could not trace the model{hint}: {exc}") from exc
        ep = ep.run_decompositions()
        check_torch_ops(ep)
        hint = negative_index_hint(ep)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mod = from_exported_program(ep, keep_params_as_input=True, run_ep_decomposition=False)
        mod, params = relax.frontend.detach_params(mod)
        state = {k: v for k, v in model.state_dict().items()}
        source_hash = _torch_source_hash(ep, state)
    finally:
        model.train(was_training)

    np_params = [p.numpy() for p in params.get("main", [])]
    main = mod["main"]
    n_in = len(examples)
    param_names = [v.name for v in main.params[n_in:]]
    inputs = [TensorSpec(v.name, _spec_shape(v.ty.shape), str(v.ty.dtype), max_batch)
              for v in main.params[:n_in]]
    mod = bound_batch(mod, n_in, max_batch)
    example_np = _as_numpy_list(examples)

    def reference(*arrays: np.ndarray) -> list[np.ndarray]:
        with torch.no_grad():
            was = model.training
            model.eval()
            try:
                return flatten_outputs(model(*(torch.from_numpy(np.ascontiguousarray(a)) for a in arrays)))
            finally:
                model.train(was)

    return ImportedModel(mod, np_params, param_names, inputs, _output_specs(main), "torch", source_hash,
                         example_np, reference, max_batch, hint)


def bound_batch(mod: Any, n_inputs: int, max_batch: int | None) -> Any:
    """``mod`` with the symbolic batch of ``main``'s first ``n_inputs`` inputs bounded to
    ``[1, max_batch]``: Relax's memory planner then reserves the intermediate buffers of that batch once
    instead of allocating per call or planning for an unbounded one."""
    from tvm import tirx

    if max_batch is None:
        return mod
    names = {str(dim) for v in mod["main"].params[:n_inputs] for dim in v.ty.shape.values[:1]
             if isinstance(dim, tirx.Var)}
    main = mod["main"].with_attrs({"tir_var_upper_bound": {n: max_batch for n in names},
                                   "tir_var_lower_bound": {n: 1 for n in names}})
    mod["main"] = main
    return mod


def _spec_shape(shape: Any) -> tuple[int | None, ...]:
    from tvm import tirx

    return tuple(int(d.value) if isinstance(d, tirx.IntImm) else None
                 for d in (shape.values if hasattr(shape, "values") else shape))


def _output_specs(main: Any) -> list[TensorSpec]:
    from tvm import relax

    ret = main.ret_ty
    leaves = list(ret.fields) if hasattr(ret, "fields") else [ret]
    specs = []
    for i, ty in enumerate(leaves):
        if not isinstance(ty, relax.TensorType):
            raise ConfigError(f"output {i} of the model is a {type(ty).__name__}, not a tensor; return tensors "
                              "(or a flat tuple of tensors)")
        shape = _spec_shape(ty.shape) if ty.shape is not None else ()
        specs.append(TensorSpec(f"output{i}", shape, str(ty.dtype)))
    return specs


# ------------------------------------------------------------------ onnx


def check_onnx_ops(graph: Any, _where: str = "") -> None:
    """Raise :class:`UnsupportedOperator` for every ONNX node (subgraphs included) whose op type the
    Relax ONNX frontend cannot convert."""
    from tvm.relax.frontend.onnx.onnx_frontend import _get_convert_map

    table = set(_get_convert_map()) | {"If", "Constant"}
    missing: dict[str, list[str]] = {}

    def visit(g: Any, prefix: str) -> None:
        for i, node in enumerate(g.node):
            name = f"{prefix}{node.name or f'#{i}'}"
            if node.op_type not in table or (node.domain not in ("", "ai.onnx")):
                missing.setdefault(node.op_type if not node.domain else f"{node.domain}.{node.op_type}",
                                   []).append(name)
            for attr in node.attribute:
                if attr.g and attr.g.node:
                    visit(attr.g, f"{name}/{attr.name}/")
                for sub in attr.graphs:
                    visit(sub, f"{name}/{attr.name}/")

    visit(graph, _where)
    if missing:
        raise UnsupportedOperator("ONNX", missing)


def _import_onnx(path: Path, example_inputs: Sequence[Any] | None, max_batch: int | None) -> ImportedModel:
    import onnx

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
        raise ModelFileError(f"{path} is not a valid ONNX model: {exc}") from exc
    if not proto.graph.node:
        raise ModelFileError(f"{path} holds an ONNX graph with no nodes; is it the right file?")
    check_onnx_ops(proto.graph)
    return _onnx_to_relax(proto, path, blob, example_inputs, max_batch)


def _onnx_to_relax(proto: Any, path: Path, blob: bytes, example_inputs: Sequence[Any] | None,
                   max_batch: int | None) -> ImportedModel:
    import onnx
    import tvm
    from tvm import relax
    from tvm.relax.frontend.onnx import from_onnx

    init_names = {t.name for t in proto.graph.initializer}
    graph_inputs = [i for i in proto.graph.input if i.name not in init_names]
    examples = _as_numpy_list(example_inputs) if example_inputs else None
    if examples is not None and len(examples) != len(graph_inputs):
        raise ShapeError(f"{path.name} has {len(graph_inputs)} inputs ({', '.join(i.name for i in graph_inputs)}) "
                         f"but {len(examples)} example inputs were given")
    shape_dict: dict[str, list[Any]] = {}
    dtype_dict: dict[str, str] = {}
    specs: list[TensorSpec] = []
    example_np: list[np.ndarray] = []
    batch_var = tvm.tirx.Var(BATCH, "int64")
    rng = np.random.default_rng(0)
    dynamic_batch = max_batch is not None
    for k, inp in enumerate(graph_inputs):
        ttype = inp.type.tensor_type
        dtype = onnx.helper.tensor_dtype_to_np_dtype(ttype.elem_type).name
        declared = [d.dim_value if d.dim_value > 0 else None for d in ttype.shape.dim]
        if examples is not None:
            concrete = list(examples[k].shape)
            if len(concrete) != len(declared) or any(d is not None and d != c for d, c in zip(declared, concrete)):
                raise ShapeError(f"example input {k} has shape {tuple(concrete)} but {path.name} declares "
                                 f"{inp.name} as {tuple('?' if d is None else d for d in declared)}")
            example = examples[k].astype(dtype, copy=False)
        else:
            concrete = [1 if d is None else d for d in declared]
            example = (rng.standard_normal(concrete).astype(dtype) if np.dtype(dtype).kind == "f"
                       else np.zeros(concrete, dtype))
        if dynamic_batch and not concrete:
            raise ShapeError(f"input {inp.name} is a scalar; dynamic_batch needs a batch dimension")
        shape = [batch_var if (dynamic_batch and i == 0) else c for i, c in enumerate(concrete)]
        shape_dict[inp.name] = shape
        dtype_dict[inp.name] = dtype
        specs.append(TensorSpec(inp.name, tuple(None if (dynamic_batch and i == 0) else int(c)
                                                for i, c in enumerate(concrete)), dtype, max_batch))
        example_np.append(np.ascontiguousarray(example))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mod = from_onnx(proto, shape_dict=shape_dict, dtype_dict=dtype_dict, keep_params_in_input=True)
    except tvm.error.OpNotImplemented as exc:  # pragma: no cover - pre-scan should have caught it
        raise UnsupportedOperator("ONNX", {str(exc): ["?"]}) from exc
    mod, params = relax.frontend.detach_params(mod)
    np_params = [p.numpy() for p in params.get("main", [])]
    n_in = len(specs)
    mod = bound_batch(mod, n_in, max_batch)
    main = mod["main"]
    param_names = [v.name for v in main.params[n_in:]]
    session: list[Any] = []

    def reference(*arrays: np.ndarray) -> list[np.ndarray]:
        import onnxruntime as ort

        if not session:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1
            session.append(ort.InferenceSession(blob, opts, providers=["CPUExecutionProvider"]))
        feeds = {s.name: np.ascontiguousarray(a) for s, a in zip(specs, arrays)}
        return [np.asarray(o) for o in session[0].run(None, feeds)]

    return ImportedModel(mod, np_params, param_names, specs, _output_specs(main), "onnx",
                         hashlib.sha256(blob).hexdigest(), example_np, reference, max_batch)


# ------------------------------------------------------------------ module:factory


def _import_from_cwd(name: str) -> Any:
    """Import ``name`` with the working directory on the path too, as ``python -m`` would."""
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(name)
    finally:
        if added:
            sys.path.remove(cwd)


def load_factory(spec: str) -> tuple[Any, tuple[Any, ...]]:
    """Call a ``module:factory`` (or ``path/to/file.py:factory``) that returns ``(model, example_inputs)``."""
    mod_name, sep, func_name = spec.rpartition(":")
    if not sep or not mod_name or not func_name:
        raise ModelFileError(f"'{spec}' is neither an .onnx file nor a 'module:factory' path")
    try:
        if mod_name.endswith(".py") or os.sep in mod_name:
            file = Path(mod_name)
            if not file.is_file():
                raise ModelFileError(f"no Python file {file}")
            module_spec = importlib.util.spec_from_file_location(file.stem, file)
            module = importlib.util.module_from_spec(module_spec)  # type: ignore[arg-type]
            sys.modules.setdefault(file.stem, module)
            module_spec.loader.exec_module(module)  # type: ignore[union-attr]
        else:
            module = _import_from_cwd(mod_name)
    except ImportError as exc:
        raise ModelFileError(f"cannot import '{mod_name}' for '{spec}': {exc}") from exc
    factory = getattr(module, func_name, None)
    if not callable(factory):
        raise ModelFileError(f"'{mod_name}' has no callable '{func_name}'")
    result = factory()
    if not (isinstance(result, tuple) and len(result) == 2):
        raise ModelFileError(f"'{spec}' must return (model, example_inputs), got {type(result).__name__}")
    model, examples = result
    if not isinstance(examples, (tuple, list)):
        examples = (examples,)
    return model, tuple(examples)
