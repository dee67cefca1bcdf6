"""Vectorisable transcendental functions for CPU builds.

LLVM lowers a vector ``exp``, ``erf`` or ``tanh`` to one call of the C library per element, so an
activation such as GELU or SiLU cost more than the matrix product it follows (SiLU after a 1 x 1
convolution of EfficientNet-B0: 4 ms, of which the product is 0.4). TVM's ``FastMathTransform`` replaces
``exp``, ``erf``, ``tanh`` and ``softmax`` by polynomial forms that vectorise; :func:`fast_math` adds
``sigmoid`` (``1 / (1 + fast_exp(-x))``), which it leaves alone. ONNX Runtime's kernels use the same
kind of approximations; every build is still verified against it.
"""

from __future__ import annotations

from typing import Any

SIGMOID = "relax.sigmoid"


def fast_sigmoid_te(x: Any) -> Any:
    """``1 / (1 + exp(-x))`` with TOPI's vectorisable ``fast_exp``, as a TE tensor."""
    from tvm import te, topi

    e = topi.fast_exp(topi.negative(x))
    one = te.const(1.0, x.dtype)
    return te.compute(x.shape, lambda *i: one / (one + e(*i)), name="T_fast_sigmoid")


def fast_math(mod: Any) -> Any:
    """``mod`` with TVM's fast ``exp``/``erf``/``tanh``/``softmax`` and a fast float32 ``sigmoid``."""
    from tvm import relax
    from tvm.relax.expr_functor import PyExprMutator, mutator

    @mutator
    class Sigmoid(PyExprMutator):
        def visit_call_(self, call: Any) -> Any:  # noqa: N802 - TVM's visitor name
            call = super().visit_call_(call)
            if getattr(call.op, "name", "") == SIGMOID and str(call.args[0].ty.dtype) == "float32":
                return self.builder_.call_te(fast_sigmoid_te, call.args[0], primfunc_name_hint="fast_sigmoid")
            return call

    mod = relax.transform.FastMathTransform()(mod)
    rewriter = Sigmoid(mod)
    for gv, func in mod.functions_items():
        if isinstance(func, relax.Function):
            rewriter.builder_.update_func(gv, rewriter.visit_expr(func))
    return rewriter.builder_.get()
