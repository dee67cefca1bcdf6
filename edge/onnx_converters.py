"""Local ONNX converters: a table in the TVM frontend's own style (an op name -> a class whose
``get_converter(opset)`` gives ``f(bb, inputs, attrs, params) -> relax.Expr``), used in place of the
frontend's converter for those ops while :func:`local_converters` is active.

- ``Sum``, ``Max``, ``Min``, ``Mean``: folded pairwise with the binary operators (``Mean`` then divided by
  the count). The frontend stacks the inputs into a tensor of one more dimension and reduces it, and the
  NHWC layout conversion cannot lay out that 5-D stack ("Invalid SLayout: can't find S in source layout
  ABCDE"): ResNet-50 and ShuffleNet of the classic zoo were built in NCHW, 3.9x slower than ONNX Runtime.
- ``Mish``: a formulation precise for negative inputs; ``Cosh``, ``Sinh``: without the intrinsics TVM's
  LLVM backend lacks; ``Celu``, ``Swish``, ``LpNormalization``: missing from the frontend; ``Pow``: mixed
  and integer dtypes.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any, Callable, Iterator


class _Pairwise:
    """A variadic elementwise operator as a left fold of a binary one."""

    binary: str = ""
    mean = False

    @classmethod
    def get_converter(cls, _opset: int) -> Callable[..., Any]:
        """The converter for any opset (the operator's semantics did not change)."""
        return cls.convert

    @classmethod
    def convert(cls, bb: Any, inputs: list[Any], _attrs: dict[str, Any], _params: Any) -> Any:
        """``inputs`` folded with :attr:`binary`."""
        from tvm import relax

        op = getattr(relax.op, cls.binary)
        out = functools.reduce(lambda a, b: bb.normalize(op(a, b)), inputs)
        if cls.mean:
            out = relax.op.divide(out, relax.const(len(inputs), inputs[0].ty.dtype))
        return out


class Sum(_Pairwise):
    """ONNX ``Sum``."""

    binary = "add"


class Max(_Pairwise):
    """ONNX ``Max``."""

    binary = "maximum"


class Min(_Pairwise):
    """ONNX ``Min``."""

    binary = "minimum"


class Mean(_Pairwise):
    """ONNX ``Mean``."""

    binary = "add"
    mean = True


class _Unary:
    """An operator the frontend lacks or computes imprecisely, as a few Relax operators."""

    @classmethod
    def get_converter(cls, _opset: int) -> Callable[..., Any]:
        """The converter for any opset."""
        return cls.convert

    @classmethod
    def convert(cls, bb: Any, inputs: list[Any], attrs: dict[str, Any], _params: Any) -> Any:
        """The operator applied to ``inputs[0]``."""
        from tvm import relax

        x = inputs[0]
        return cls.formula(relax.op, x, lambda v: relax.const(v, x.ty.dtype), attrs)

    @staticmethod
    def formula(op: Any, x: Any, c: Callable[[float], Any], attrs: dict[str, Any]) -> Any:
        raise NotImplementedError


class Mish(_Unary):
    """``x * tanh(softplus(x))`` as ``x * n / (n + 2)`` with ``n = e^x (e^x + 2)``: the frontend's
    ``tanh(log(1 + e^x))`` loses the relative precision of small ``e^x`` (1.3e-3 relative at x = -8, beyond
    ONNX's own test tolerance); ``e^x`` is taken of ``min(x, 20)``, where the ratio is 1 in float32."""

    @staticmethod
    def formula(op: Any, x: Any, c: Callable[[float], Any], attrs: dict[str, Any]) -> Any:
        """mish(x)."""
        e = op.exp(op.minimum(x, c(20.0)))
        n = op.multiply(e, op.add(e, c(2.0)))
        return op.multiply(x, op.divide(n, op.add(n, c(2.0))))


class Cosh(_Unary):
    """``(e^x + e^-x) / 2`` (TVM 0.27's LLVM backend has no ``cosh`` intrinsic: the build failed)."""

    @staticmethod
    def formula(op: Any, x: Any, c: Callable[[float], Any], attrs: dict[str, Any]) -> Any:
        """cosh(x)."""
        return op.multiply(op.add(op.exp(x), op.exp(op.negative(x))), c(0.5))


class Sinh(_Unary):
    """``(e^x - e^-x) / 2``, and ``x (1 + x^2 / 6)`` for ``|x| < 0.01`` where the difference cancels (no
    ``sinh`` intrinsic in TVM 0.27's LLVM backend)."""

    @staticmethod
    def formula(op: Any, x: Any, c: Callable[[float], Any], attrs: dict[str, Any]) -> Any:
        """sinh(x)."""
        big = op.multiply(op.subtract(op.exp(x), op.exp(op.negative(x))), c(0.5))
        small = op.multiply(x, op.add(c(1.0), op.divide(op.multiply(x, x), c(6.0))))
        return op.where(op.less(op.abs(x), c(0.01)), small, big)


class Celu(_Unary):
    """``max(0, x) + min(0, alpha (e^(x / alpha) - 1))``."""

    @staticmethod
    def formula(op: Any, x: Any, c: Callable[[float], Any], attrs: dict[str, Any]) -> Any:
        """celu(x)."""
        alpha = float(attrs.get("alpha", 1.0))
        neg = op.multiply(c(alpha), op.subtract(op.exp(op.divide(x, c(alpha))), c(1.0)))
        return op.add(op.maximum(x, c(0.0)), op.minimum(neg, c(0.0)))


class Swish(_Unary):
    """``x * sigmoid(alpha x)`` (opset 24)."""

    @staticmethod
    def formula(op: Any, x: Any, c: Callable[[float], Any], attrs: dict[str, Any]) -> Any:
        """swish(x)."""
        return op.multiply(x, op.sigmoid(op.multiply(x, c(float(attrs.get("alpha", 1.0))))))


class LpNormalization(_Unary):
    """``x / ||x||_p`` along ``axis`` (p of 1 or 2, ONNX's definition, no epsilon)."""

    @staticmethod
    def formula(op: Any, x: Any, c: Callable[[float], Any], attrs: dict[str, Any]) -> Any:
        """x normalised."""
        axis, p = int(attrs.get("axis", -1)), int(attrs.get("p", 2))
        if p == 1:
            norm = op.sum(op.abs(x), axis=[axis], keepdims=True)
        else:
            norm = op.sqrt(op.sum(op.multiply(x, x), axis=[axis], keepdims=True))
        return op.divide(x, norm)


class Pow:
    """``Pow`` with a base and an exponent of different dtypes (the output has the base's), and of
    integers, computed in float64 and rounded (the frontend requires equal dtypes and TVM's power takes
    floats only)."""

    @classmethod
    def get_converter(cls, _opset: int) -> Callable[..., Any]:
        """The converter for any opset."""
        return cls.convert

    @classmethod
    def convert(cls, bb: Any, inputs: list[Any], _attrs: dict[str, Any], _params: Any) -> Any:
        """base ** exponent."""
        from tvm import relax

        base, expo = inputs
        dtype = str(base.ty.dtype)
        if dtype.startswith("float"):
            return relax.op.power(base, expo if str(expo.ty.dtype) == dtype else relax.op.astype(expo, dtype))
        wide = relax.op.power(relax.op.astype(base, "float64"), relax.op.astype(expo, "float64"))
        return relax.op.astype(relax.op.round(wide), dtype)


LOCAL_CONVERTERS: dict[str, type] = {"Sum": Sum, "Max": Max, "Min": Min, "Mean": Mean, "Mish": Mish, "Cosh": Cosh,
                                     "Sinh": Sinh, "Celu": Celu, "Swish": Swish, "LpNormalization": LpNormalization,
                                     "Pow": Pow}


@contextlib.contextmanager
def local_converters() -> Iterator[None]:
    """Within this block the TVM ONNX frontend converts the ops of :data:`LOCAL_CONVERTERS` with them."""
    from tvm.relax.frontend.onnx import onnx_frontend

    original = onnx_frontend._get_convert_map

    def merged() -> dict[str, Any]:
        return {**original(), **LOCAL_CONVERTERS}

    onnx_frontend._get_convert_map = merged
    try:
        yield
    finally:
        onnx_frontend._get_convert_map = original
