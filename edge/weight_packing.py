"""Weights packed for CPU kernels: convolution weights re-laid out as ``OHWI{V}o``, weight matrices as
``W[n // V, k, n % V]``.

In ``HWIO`` the ``V`` output channels a vector register holds are contiguous, but consecutive input
channels are ``C_out`` floats apart: the weight panel a register tile streams through (kernel height x
width x input channels, ``V`` wide) touches a new cache line, and on the deep layers of a network a new
page, at every step, and a 3x3 convolution with 512 channels runs at half the speed of its packed form
(a TLB-bound stream: 36 against 73 GFLOP/s at 7x7 on AVX2). Packed, ``W[o // V, h, w, i, o % V]`` is
read as one contiguous stream per block of ``V`` output channels.

:func:`pack_weights` rewrites the Relax module (before ``LiftTransformParams``, so the re-layout of
the weights runs once, at compile time, with the other weight transforms); :func:`legalize_packed_conv2d`
lowers the packed convolution, which TOPI's conv2d does not take. Only plain (``groups == 1``) NHWC
convolutions whose output channels are a multiple of ``V`` are packed; the others keep ``HWIO``.

Matrix products by a weight matrix (``x @ W`` with ``W`` of shape ``K x N`` a constant or a function
of the weights alone: dense layers, the projections of a transformer) have the same stride problem (a
row of ``W`` is ``N`` floats): ``W`` is packed as ``W[n // V, k, n % V]`` and the product computed by
:func:`packed_matmul_te` (same schedule rule as the convolutions, and the bias and activation after
it still fuse into it).
"""

from __future__ import annotations

from typing import Any

from edge.cpu_schedules.tiling import padded_rows
from edge.specs import spec_shape

CONV2D = "relax.nn.conv2d"
MATMUL = "relax.matmul"


def packed_kernel_layout(lanes: int) -> str:
    """The kernel layout string of weights packed ``lanes`` output channels at a time."""
    return f"OHWI{lanes}o"


def _static_shape(expr: Any) -> list[int] | None:
    shape = getattr(expr.ty, "shape", None)
    dims = spec_shape(shape) if shape is not None else None
    return None if dims is None or None in dims else list(dims)


def _packable(call: Any, lanes: int) -> bool:
    attrs = call.attrs
    if (getattr(call.op, "name", "") != CONV2D or attrs.data_layout != "NHWC" or attrs.kernel_layout != "HWIO"
            or attrs.out_layout != "NHWC" or int(attrs.groups) != 1):
        return False
    shape = _static_shape(call.args[1])
    return shape is not None and len(shape) == 4 and shape[3] % lanes == 0 and shape[3] > lanes


def _weight_matmul(call: Any, lanes: int, is_weight: Any) -> bool:
    if getattr(call.op, "name", "") != MATMUL or not is_weight(call.args[1]) or is_weight(call.args[0]):
        return False
    x, w = _static_shape(call.args[0]), _static_shape(call.args[1])
    return (x is not None and w is not None and len(w) == 2 and len(x) >= 2 and w[1] % lanes == 0
            and w[1] > lanes and str(call.args[0].ty.dtype) == str(call.args[1].ty.dtype))


def pack_weights(mod: Any, lanes: int) -> Any:
    """``mod`` with every packable NHWC/HWIO convolution, and every product by a weight matrix, taking
    ``OHWI{lanes}o`` weights through a ``layout_transform`` of its weight argument (module doc)."""
    import tvm
    from tvm import relax
    from tvm.relax.expr_functor import PyExprMutator, mutator

    layout = packed_kernel_layout(lanes)

    def packed(weight_hwio: Any) -> Any:
        return relax.op.layout_transform(weight_hwio, index_map=lambda h, w, i, o: (o // lanes, h, w, i, o % lanes))

    @mutator
    class Packer(PyExprMutator):
        weights: set[Any] = set()

        def is_weight(self, expr: Any) -> bool:
            """True when ``expr`` is a constant or computed from weights alone (the function's parameters
            after ``num_input``), so its re-layout is lifted out and runs once."""
            if isinstance(expr, tvm.ir.expr.Constant) or (isinstance(expr, relax.Var) and expr in self.weights):
                return True
            if isinstance(expr, relax.Var):
                bound = self.lookup_binding(expr)
                if isinstance(bound, relax.Call) and bound.args:
                    return all(self.is_weight(a) for a in bound.args if not isinstance(a, relax.ShapeExpr))
            return False

        def visit_call_(self, call: Any) -> Any:  # noqa: N802 - TVM's visitor name
            call = super().visit_call_(call)
            if _packable(call, lanes):
                a = call.attrs
                return relax.op.nn.conv2d(call.args[0], packed(call.args[1]), a.strides, a.padding, a.dilation, 1,
                                          a.data_layout, layout, a.out_layout, a.out_dtype)
            if _weight_matmul(call, lanes, self.is_weight):
                out_dtype = str(call.ty.dtype)
                kernel = self.builder_.emit(relax.op.layout_transform(
                    call.args[1], index_map=lambda k, n: (n // lanes, k, n % lanes)))
                return self.builder_.call_te(packed_matmul_te, call.args[0], kernel, out_dtype,
                                             primfunc_name_hint="matmul")
            return call

    out = mod
    for gv, func in mod.functions_items():
        if isinstance(func, relax.Function):
            packer = Packer(out)
            n_inputs = int(func.attrs["num_input"]) if func.attrs and "num_input" in func.attrs else len(func.params)
            packer.weights = set(func.params[n_inputs:])
            rewritten = packer.visit_expr(func)
            out = packer.builder_.get()  # with the packed products' functions
            out[gv] = rewritten
    return relax.transform.Normalize()(out)


def packed_matmul_te(data: Any, kernel: Any, out_dtype: str) -> Any:
    """``data @ W`` (``data`` of shape ``... x M x K``) by ``W`` packed as ``kernel[n // V, k, n % V]``,
    as a TE tensor of shape ``... x M x N``. Rows no small tile divides (197 tokens) are computed padded
    with zeros to a multiple of ``PAD_ROWS`` and cropped."""
    from tvm import te, tirx

    blocks, depth, lanes = (int(d) for d in kernel.shape)
    *lead, rows, _ = (int(d) for d in data.shape)
    m_padded = padded_rows(rows)
    source = data
    if m_padded != rows:
        zero = tirx.const(0, data.dtype)
        source = te.compute((*lead, m_padded, depth), lambda *i: tirx.if_then_else(
            i[-2] < rows, data[i], zero), name="rows_padded")
    rk = te.reduce_axis((0, depth), "rk")

    def body(*index: Any) -> Any:
        *row, n = index
        value = source[(*row, rk)] * kernel[n // lanes, rk, n % lanes]
        return te.sum(value.astype(out_dtype), axis=[rk])

    out = te.compute((*lead, m_padded, blocks * lanes), body, name="matmul")
    if m_padded == rows:
        return out
    return te.compute((*lead, rows, blocks * lanes), lambda *i: out[i], name="rows_cropped")


def packed_conv2d_te(data: Any, kernel: Any, strides: Any, padding: Any, dilation: Any, out_dtype: str) -> Any:
    """The NHWC convolution of ``data`` by packed ``OHWI{V}o`` weights ``kernel`` as a TE tensor
    (``padding`` is top, left, bottom, right). An output width no small tile divides (13 columns of
    SqueezeNet's last layers) is computed padded with zero columns to a multiple of ``PAD_ROWS`` and
    cropped."""
    from tvm import te, topi

    _, h, w, c = (int(d) for d in data.shape)
    blocks, kh, kw, _, lanes = (int(d) for d in kernel.shape)
    sh, sw = (int(s) for s in strides)
    dh, dw = (int(d) for d in dilation)
    pt, pl, pb, pr = (int(p) for p in padding)
    out_h = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    out_w = (w + pl + pr - dw * (kw - 1) - 1) // sw + 1
    padded_w = padded_rows(out_w)
    pr += (padded_w - out_w) * sw
    padded = topi.nn.pad(data, [0, pt, pl, 0], [0, pb, pr, 0], name="pad_temp") if pt or pl or pb or pr else data
    rh, rw, rc = te.reduce_axis((0, kh), "rh"), te.reduce_axis((0, kw), "rw"), te.reduce_axis((0, c), "rc")

    def body(n: Any, y: Any, x: Any, o: Any) -> Any:
        value = padded[n, y * sh + rh * dh, x * sw + rw * dw, rc] * kernel[o // lanes, rh, rw, rc, o % lanes]
        return te.sum(value.astype(out_dtype), axis=[rh, rw, rc])

    shape = (int(data.shape[0]), out_h, padded_w, blocks * lanes)
    out = te.compute(shape, body, name="conv2d_nhwc")
    if padded_w == out_w:
        return out
    return te.compute((shape[0], out_h, out_w, shape[3]), lambda *i: out[i], name="columns_cropped")


def legalize_packed_conv2d(bb: Any, call: Any) -> Any:
    """Legalisation of ``relax.nn.conv2d``: packed convolutions (``OHWI{V}o`` weights) by
    :func:`packed_conv2d_te`, every other one by TVM's own rule."""
    import tvm

    attrs = call.attrs
    if not (attrs.data_layout == "NHWC" and str(attrs.kernel_layout).startswith("OHWI")
            and len(str(attrs.kernel_layout)) > 4):
        return tvm.ir.Op.get(CONV2D).get_attr("FLegalize")(bb, call)
    out_dtype = str(call.ty.dtype)
    return bb.call_te(packed_conv2d_te, call.args[0], call.args[1], attrs.strides, attrs.padding, attrs.dilation,
                      out_dtype, primfunc_name_hint="conv2d")
