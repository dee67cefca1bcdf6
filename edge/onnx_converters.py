"""Local ONNX converters: a table in the TVM frontend's own style (an op name -> a class whose
``get_converter(opset)`` gives ``f(bb, inputs, attrs, params) -> relax.Expr``), used in place of the
frontend's converter for those ops while :func:`local_converters` is active.

- ``Sum``, ``Max``, ``Min``, ``Mean``: folded pairwise with the binary operators (``Mean`` then divided by
  the count). The frontend stacks the inputs into a tensor of one more dimension and reduces it, and the
  NHWC layout conversion cannot lay out that 5-D stack ("Invalid SLayout: can't find S in source layout
  ABCDE"): ResNet-50 and ShuffleNet of the classic zoo were built in NCHW, 3.9x slower than ONNX Runtime.
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


LOCAL_CONVERTERS: dict[str, type] = {"Sum": Sum, "Max": Max, "Min": Min, "Mean": Mean}


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
