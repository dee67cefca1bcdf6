"""Default CPU schedules: what an untuned build gets for each fused TIR function (DLight style).

TVM 0.27's ``s_tir.dlight.cpu`` has rules for GEMV and row reductions only, so convolutions, dense
layers, matrix products and pooling are otherwise left as naive scalar loops (16x to 167x slower than
ONNX Runtime on real networks). The rules here are tried in the order of :data:`RULES`, one rule a file;
the first that applies schedules the function. A rule that fails on a function (a schedule primitive
refusing it) is skipped for that function, so a rule can make a build slower than it could be but never
make it fail. Functions tuning records cover are left alone (they are already scheduled).
"""

from __future__ import annotations

from typing import Any

from edge.cpu_schedules.base import guarded
from edge.cpu_schedules.contraction import Contraction
from edge.cpu_schedules.elementwise import Elementwise
from edge.cpu_schedules.row_reduction import RowReduction
from edge.cpu_schedules.window import WindowReduction


def rules() -> list[Any]:
    """The rule table, most specific first: contractions (convolution, dense, matmul), windowed
    reductions (pooling, depthwise convolution), last-axis reductions (softmax, norms), DLight's other
    reductions, elementwise."""
    from tvm.s_tir import dlight as dl

    return [guarded(Contraction()), guarded(WindowReduction()), guarded(RowReduction()),
            guarded(dl.cpu.Reduction()), guarded(Elementwise())]


def cpu_default_schedule() -> Any:
    """The module pass applying :func:`rules` to every unscheduled TIR function."""
    from tvm.s_tir import dlight as dl

    return dl.ApplyDefaultSchedule(*rules())
