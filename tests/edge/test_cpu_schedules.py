"""Default CPU schedules (issue 18, point 4): each rule schedules the functions it is for, the schedules
compute what the naive loops compute, and a rule that cannot apply leaves the function to the next."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import edge
from edge.compile import prepare
from edge.cpu_schedules import rules
from edge.cpu_schedules.contraction import Contraction
from edge.cpu_schedules.elementwise import Elementwise
from edge.cpu_schedules.base import vector_bits, vector_lanes, vector_registers
from edge.cpu_schedules.tiling import choose_tiles, fits
from edge.cpu_schedules.window import WindowReduction
from edge.targets import resolve


def test_tiles_divide_the_axes_and_fit_the_registers():
    plan = choose_tiles(56, 64, lanes=16, registers=32)
    assert 56 % plan.rows == 0 and 64 % plan.vector == 0 and plan.lanes == 16
    assert fits(plan.rows, plan.vector // plan.lanes, 32)
    dense = choose_tiles(1, 1000, lanes=16, registers=32)  # 16 does not divide 1000: 8-float vectors
    assert dense.lanes == 8 and 1000 % dense.vector == 0
    odd = choose_tiles(7, 3, lanes=8)  # 3 output channels: vectorised whole
    assert odd.vector == 3
    for rows, channels in [(56, 64), (28, 128), (14, 256), (7, 512), (24, 128), (1, 1000)]:
        plan = choose_tiles(rows, channels, lanes=8, registers=16)  # AVX2: 16 registers
        assert fits(plan.rows, plan.vector // plan.lanes, 16) and rows % plan.rows == 0
    assert not fits(3, 4, 16)  # 12 accumulators + 4 weight vectors + a broadcast: spilled


def test_vector_width_comes_from_the_cpu_features():
    import tvm

    def width(**cfg):
        return vector_bits(tvm.target.Target({"kind": "llvm", **cfg}))

    assert width(mcpu="znver3") == 256  # LLVM's own answer for znver3 is 512, which it does not have
    assert width(mcpu="skylake-avx512") == 512
    assert width(mcpu="haswell") == 256
    assert width(mtriple="aarch64-linux-gnu", mcpu="cortex-a78") == 128
    aarch64 = tvm.target.Target({"kind": "llvm", "mtriple": "aarch64-linux-gnu", "mcpu": "cortex-a78"})
    assert vector_lanes(aarch64) == 4 and vector_registers(aarch64) == 32


def _functions(model, shape):
    imported = edge.import_model(model.eval(), (torch.randn(*shape),))
    return prepare(imported.mod, resolve("host").tvm_target())


def _rule_for(func, target):
    for rule in (Contraction(), WindowReduction(), Elementwise()):
        if rule.apply(func, target, False) is not None:
            return type(rule).__name__
    return None


class _SelfProduct(nn.Module):
    """Attention-like products over 11 tokens (a prime above 8): padded rows in the packed projection, and
    ``pad_einsum`` on both axes of ``q @ q^T`` (11 is no multiple of the SIMD width)."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(12, 16)

    def forward(self, x):
        q = self.proj(x)
        return torch.softmax(q @ q.transpose(-1, -2), -1) @ q


def test_each_function_gets_its_rule():
    target = resolve("host").tvm_target()
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(16 * 4 * 4, 10))
    mod = _functions(model, (1, 3, 8, 8))
    found = {}
    with target:
        for gv, func in mod.functions_items():
            if type(func).__name__ == "PrimFunc":
                found[gv.name_hint] = _rule_for(func, target)
    conv = [k for k in found if "conv2d" in k]
    dense = [k for k in found if "matmul" in k]
    pool = [k for k in found if "pool" in k]
    assert conv and all(found[k] == "Contraction" for k in conv)
    assert dense and all(found[k] == "Contraction" for k in dense)
    assert pool and all(found[k] == "WindowReduction" for k in pool)
    assert any(v == "Elementwise" for v in found.values())


@pytest.mark.parametrize("name", ["conv", "depthwise", "strided", "ragged", "grouped", "softmax", "layernorm", "silu",
                                  "dilated", "dense", "matmul", "pool", "avgpool"])
def test_default_schedules_compute_what_the_naive_loops_compute(name):
    models = {
        "conv": (nn.Sequential(nn.Conv2d(8, 24, 3, padding=1), nn.BatchNorm2d(24), nn.ReLU()), (1, 8, 14, 14)),
        "depthwise": (nn.Sequential(nn.Conv2d(16, 16, 3, padding=1, groups=16), nn.ReLU6()), (1, 16, 10, 10)),
        "strided": (nn.Sequential(nn.Conv2d(3, 10, 7, stride=2, padding=3)), (1, 3, 21, 21)),
        "ragged": (_SelfProduct(), (1, 11, 12)),
        "grouped": (nn.Sequential(nn.Conv2d(20, 20, 3, padding=1, groups=4), nn.ReLU(),
                                  nn.Conv2d(20, 12, 1, groups=2)), (1, 20, 9, 9)),
        "softmax": (nn.Sequential(nn.Linear(16, 1000), nn.Softmax(-1)), (1, 16)),
        "layernorm": (nn.Sequential(nn.Linear(16, 24), nn.LayerNorm(24), nn.Softmax(-1)), (3, 5, 16)),
        "silu": (nn.Sequential(nn.Conv2d(4, 16, 1), nn.SiLU(), nn.Conv2d(16, 16, 3, padding=1), nn.GELU()),
                 (1, 4, 9, 9)),
        "dilated": (nn.Sequential(nn.Conv2d(4, 16, 3, stride=2, padding=2, dilation=2), nn.ReLU()), (1, 4, 13, 11)),
        "dense": (nn.Linear(100, 1000), (1, 100)),
        "matmul": (nn.Linear(48, 40), (2, 6, 48)),
        "pool": (nn.Sequential(nn.Conv2d(3, 8, 1), nn.MaxPool2d(3, 2, 1)), (1, 3, 15, 15)),
        "avgpool": (nn.Sequential(nn.Conv2d(3, 8, 1), nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(1)), (1, 3, 12, 12)),
    }
    model, shape = models[name]
    torch.manual_seed(0)
    model = model.eval()
    x = np.random.default_rng(0).standard_normal(shape).astype("float32")
    tuned = edge.compile_model(model, (torch.from_numpy(x),))
    naive = edge.compile_model(model, (torch.from_numpy(x),), default_schedules=False)
    assert tuned.info["build"]["default_schedules"] and not naive.info["build"]["default_schedules"]
    np.testing.assert_allclose(tuned(x), naive(x), rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        np.testing.assert_allclose(tuned(x), model(torch.from_numpy(x)).numpy(), rtol=1e-4, atol=1e-4)


def test_rule_failures_leave_the_function_to_the_next_rule():
    """A guarded rule that raises answers 'not applicable'; the table ends with the catch-all."""
    table = rules()
    assert repr(table[0]).startswith("guarded(")

    class Broken:
        def apply(self, func, target, tunable):
            raise RuntimeError("schedule primitive refused")

    from edge.cpu_schedules.base import guarded

    assert guarded(Broken()).apply(None, None, False) is None


def test_sigmoid_is_vectorisable_and_epilogues_fold_into_the_product():
    """SiLU after a convolution: sigmoid becomes the fast form (edge.fast_math) and the whole activation is
    computed in the convolution's write-back, one function with no separate element-wise pass."""
    model = nn.Sequential(nn.Conv2d(4, 16, 1), nn.SiLU()).eval()
    mod = _functions(model, (1, 4, 8, 8))
    names = [gv.name_hint for gv, f in mod.functions_items() if type(f).__name__ == "PrimFunc"]
    fused = [n for n in names if "conv2d" in n]
    assert fused and all("fast_sigmoid" in n for n in fused)
    target = resolve("host").tvm_target()
    with target:
        sch = Contraction().apply(mod[fused[0]], target, False)
    blocks = [b for b in sch.mod["main"].script().split("T.sblock(")[1:]]
    assert len(blocks) <= 4  # padding or none, init, update, write-back: no epilogue passes


def test_gelu_after_a_dense_layer_keeps_the_contraction_rule():
    """GELU (its fast form, edge.fast_math) folds into the product's write-back and the rule applies (a stale
    block handle once made it fail, silently sending the product to DLight's row reduction: 36 ms a call
    instead of 0.8 for a BERT feed-forward layer)."""
    model = nn.Sequential(nn.Linear(16, 32), nn.GELU()).eval()
    mod = _functions(model, (6, 16))
    target = resolve("host").tvm_target()
    fused = [gv for gv, f in mod.functions_items() if "matmul" in gv.name_hint and "gelu" in gv.name_hint]
    assert fused
    with target:
        assert Contraction().apply(mod[fused[0]], target, False) is not None


@pytest.mark.parametrize("shape", [(1, 16), (2, 7, 16)])
def test_softmax_rows_get_the_row_reduction_rule(shape):
    """One row (a classifier's 1000 classes) or many (attention): the row rule schedules the softmax;
    DLight's reduction rule recomputed the row for each of its elements."""
    from edge.cpu_schedules.row_reduction import RowReduction

    model = nn.Sequential(nn.Linear(16, 40), nn.Softmax(-1)).eval()
    mod = _functions(model, shape)
    target = resolve("host").tvm_target()
    softmax = [gv for gv, _ in mod.functions_items() if "softmax" in gv.name_hint]
    assert softmax
    with target:
        assert RowReduction().apply(mod[softmax[0]], target, False) is not None


def test_grouped_convolution_tiles_one_group_at_a_time():
    """20 channels in 4 groups of 5: the vector axis is split by group, so an input element is read as one
    broadcast, not gathered across a group boundary."""
    from edge.cpu_schedules.tiling import channel_group, iter_kinds, vector_position

    model = nn.Sequential(nn.Conv2d(20, 20, 3, padding=1, groups=4)).eval()
    mod = _functions(model, (1, 20, 9, 9))
    conv = [gv for gv, _ in mod.functions_items() if "conv2d" in gv.name_hint]
    from tvm import s_tir
    from tvm.s_tir.dlight.analysis import normalize_prim_func

    sch = s_tir.Schedule(mod[conv[0]])
    infos = normalize_prim_func(sch)
    block = next(i.block_rv for i in infos if "R" in iter_kinds(sch, i.block_rv))
    vec_pos = vector_position(sch, block, iter_kinds(sch, block).count("S"))
    assert channel_group(sch, block, vec_pos) == 5
