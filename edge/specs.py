"""What an imported model is: its input/output specs, its Relax module with the weights, and its reference.

:class:`TensorSpec` describes one input or output (name, shape with ``None`` for the symbolic batch,
dtype); :class:`ImportedModel` is what every frontend (:mod:`edge.torch_import`, :mod:`edge.onnx_import`)
returns and what :func:`edge.compile.compile_model` compiles. The helpers at the bottom read and bound
the signature of a Relax ``main`` (tvm imported in them only).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from edge.errors import InputMismatchError
from hwsim.errors import ConfigError, ShapeError

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
    # an input specialised at compile time (edge.onnx_specialise): the only value a call may pass
    value: np.ndarray | None = field(default=None, compare=False, hash=False)

    def to_json(self) -> dict[str, Any]:
        """Plain-JSON form (``"batch"`` for a symbolic dimension)."""
        out: dict[str, Any] = {"name": self.name, "shape": [BATCH if d is None else int(d) for d in self.shape],
                               "dtype": self.dtype}
        if self.max_batch is not None:
            out["max_batch"] = self.max_batch
        if self.value is not None:
            out["value"] = np.asarray(self.value).tolist()
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TensorSpec:
        """Inverse of :meth:`to_json`."""
        value = np.asarray(data["value"], dtype=data["dtype"]) if "value" in data else None
        return cls(data["name"], tuple(None if d == BATCH else int(d) for d in data["shape"]), data["dtype"],
                   data.get("max_batch"), value)

    def check_value(self, a: np.ndarray) -> None:
        """For a specialised input, :class:`~edge.errors.InputMismatchError` unless ``a`` is its value."""
        if self.value is not None and not np.array_equal(np.asarray(a), self.value):
            raise InputMismatchError(
                f"input '{self.name}' was fixed to {np.asarray(self.value).tolist()} when the model was compiled "
                f"(TVM needs it constant: it gives a shape, axes or sizes), got {np.asarray(a).tolist()}; "
                "compile again with this value as the example input")

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
    rewrites: dict[str, int] = field(default_factory=dict)  # source rewrites applied before conversion
    special_values: bool = False  # the model tests for inf/nan: verification then feeds them too

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


def runtime_inputs(specs: Sequence[TensorSpec], arrays: Sequence[Any]) -> list[Any]:
    """The arrays a compiled ``main`` takes: specialised inputs checked against their value and left out."""
    out = []
    for spec, a in zip(specs, arrays):
        if spec.value is None:
            out.append(a)
        else:
            spec.check_value(a)
    return out


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


def as_numpy_list(arrays: Sequence[Any]) -> list[np.ndarray]:
    """Tensors or arrays as contiguous numpy arrays, rank-0 ones kept rank 0 (``np.ascontiguousarray``
    would make them shape ``(1,)``)."""
    out = []
    for k, a in enumerate(arrays):
        if hasattr(a, "detach"):
            a = a.detach().cpu().numpy()
        try:
            a = np.asarray(a)
        except ValueError as exc:
            raise ShapeError(f"example input {k} is not an array ({type(a).__name__}: {exc}); pass one array "
                             "per model input") from exc
        out.append(a if a.flags.c_contiguous else a.copy(order="C"))
    return out


def shape_text(shape: Sequence[int | None]) -> str:
    """A shape as the user writes it: ``(batch, 3, 224, 224)``, ``(5,)``, ``()``."""
    return "(" + ", ".join(BATCH if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


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


def spec_shape(shape: Any) -> tuple[int | None, ...]:
    """A Relax shape as a spec shape (``None`` for symbolic dimensions)."""
    from tvm import tirx

    return tuple(int(d.value) if isinstance(d, tirx.IntImm) else None
                 for d in (shape.values if hasattr(shape, "values") else shape))


def output_specs(main: Any) -> list[TensorSpec]:
    """The output specs of a Relax ``main`` (a tensor or a flat tuple of tensors)."""
    from tvm import relax

    ret = main.ret_ty
    leaves = list(ret.fields) if hasattr(ret, "fields") else [ret]
    specs = []
    for i, ty in enumerate(leaves):
        if not isinstance(ty, relax.TensorType):
            raise ConfigError(f"output {i} of the model is a {type(ty).__name__}, not a tensor; return tensors "
                              "(or a flat tuple of tensors)")
        shape = spec_shape(ty.shape) if ty.shape is not None else ()
        specs.append(TensorSpec(f"output{i}", shape, str(ty.dtype)))
    return specs
