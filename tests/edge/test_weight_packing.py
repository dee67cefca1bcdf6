"""Packed weights (edge.weight_packing): which convolutions and products are packed, and the packed
convolution computes what TOPI's NHWC/HWIO convolution computes (strides, dilation, uneven padding)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import edge
from edge.compile import prepare
from edge.weight_packing import pack_weights, packed_conv2d_te
from edge.targets import resolve


def _kernel_layouts(mod):
    from tvm import relax

    found = []

    def visit(expr):
        if isinstance(expr, relax.Call) and getattr(expr.op, "name", "") == "relax.nn.conv2d":
            found.append((str(expr.attrs.kernel_layout), int(expr.attrs.groups)))

    for _, func in mod.functions_items():
        if isinstance(func, relax.Function):
            relax.analysis.post_order_visit(func.body, visit)
    return found


def _nhwc(model, shape):
    from tvm import relax

    from edge.compile import CPU_CONV_LAYOUT

    imported = edge.import_model(model.eval(), (torch.randn(*shape),))
    return relax.transform.ConvertLayout(CPU_CONV_LAYOUT)(imported.mod)


def test_plain_convolutions_with_whole_vectors_of_output_channels_are_packed():
    model = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1),  # packed
                          nn.Conv2d(32, 32, 3, padding=1, groups=32),  # depthwise: kept
                          nn.Conv2d(32, 12, 1),  # 12 is not a multiple of 8: kept
                          nn.Conv2d(12, 8, 1))  # a single vector: nothing to pack
    layouts = _kernel_layouts(pack_weights(_nhwc(model, (1, 3, 9, 9)), 8))
    assert layouts == [("OHWI8o", 1), ("HWIO", 32), ("HWIO", 1), ("HWIO", 1)]


@pytest.mark.parametrize("stride,dilation,padding", [(1, 1, (1, 1, 1, 1)), (2, 1, (0, 1, 2, 0)), (2, 2, (2, 2, 2, 2)),
                                                     (1, 3, (0, 0, 0, 0))])
def test_packed_convolution_equals_topi(stride, dilation, padding):
    import tvm
    from tvm import te, topi

    rng = np.random.default_rng(stride * 10 + dilation)
    x = rng.standard_normal((1, 11, 13, 5)).astype("float32")
    w = rng.standard_normal((3, 3, 5, 16)).astype("float32")  # HWIO
    packed = np.ascontiguousarray(w.reshape(3, 3, 5, 2, 8).transpose(3, 0, 1, 2, 4))  # OHWI8o
    data = te.placeholder(x.shape, name="x")
    kern = te.placeholder(packed.shape, name="w")
    hwio = te.placeholder(w.shape, name="w_hwio")
    out = packed_conv2d_te(data, kern, (stride, stride), padding, (dilation, dilation), "float32")
    ref = topi.nn.conv(data, hwio, (stride, stride), padding, (dilation, dilation), 1, "NHWC", "HWIO")
    dev = tvm.cpu()
    results = []
    for args in ([data, kern, out], [data, hwio, ref]):
        lib = tvm.compile(te.create_prim_func(args), "llvm").jit()
        result = tvm.runtime.tensor(np.zeros([int(d) for d in args[2].shape], "float32"), dev)
        lib["main"](tvm.runtime.tensor(x, dev), tvm.runtime.tensor(packed if args[1] is kern else w, dev), result)
        results.append(result.numpy())
    assert results[0].shape == results[1].shape
    np.testing.assert_allclose(results[0], results[1], rtol=1e-5, atol=1e-5)


def test_host_pipeline_packs_and_the_build_matches_torch():
    model = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(16, 24, 3, padding=1)).eval()
    x = torch.randn(1, 3, 17, 17)
    imported = edge.import_model(model, (x,))
    host = resolve("host").tvm_target()
    names = [gv.name_hint for gv, _ in prepare(imported.mod, host).functions_items()]
    assert any("layout_transform" in n for n in names)  # the packing, lifted into the weight transforms
    compiled = edge.compile_model(model, (x,))
    with torch.no_grad():
        np.testing.assert_allclose(compiled(x.numpy()), model(x).numpy(), rtol=1e-4, atol=1e-4)


class _Attention(nn.Module):
    """A weight product (the projection, packed) and a product of two activations (not packed)."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(12, 32)

    def forward(self, x):
        q = torch.nn.functional.gelu(self.proj(x))
        return q @ q.transpose(-1, -2)


def test_products_by_weights_are_packed_and_products_of_activations_are_not():
    model = _Attention().eval()
    x = torch.randn(2, 5, 12)
    imported = edge.import_model(model, (x,))
    packed = pack_weights(imported.mod, 8)
    products = []

    from tvm import relax

    def visit(expr):
        if isinstance(expr, relax.Call):
            name = getattr(expr.op, "name", "")
            products.append(expr.args[0].name_hint if name == "relax.call_tir" else name)

    relax.analysis.post_order_visit(packed["main"].body, visit)
    assert products.count("relax.matmul") == 1  # q @ q^T stays a matmul
    assert "relax.layout_transform" in products and "matmul" in products  # the projection: packed product
    compiled = edge.compile_model(model, (x,))
    with torch.no_grad():
        np.testing.assert_allclose(compiled(x.numpy()), model(x).numpy(), rtol=1e-4, atol=1e-4)
