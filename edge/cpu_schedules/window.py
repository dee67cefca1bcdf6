"""Default CPU schedule for windowed reductions that are not products: max and average pooling (and
min/sum windows), with padding and epilogue (the average's division).

Same form as a contraction (one reduction block, spatial iterators first, the vector axis, channels in
NHWC, innermost in the input or absent from it), so the same register-tiled schedule applies: a tile of
rows x channels of running maxima stays in registers over the window. Row reductions over the
innermost axis (softmax, norms) are not of this form; DLight's ``Reduction`` rule takes them.
"""

from __future__ import annotations

from typing import Any

from edge.cpu_schedules.base import llvm_schedule
from edge.cpu_schedules.contraction import is_multiply_accumulate, schedule_spatial_major


class WindowReduction:
    """DLight-style rule: spatial-major reductions other than multiply-accumulate (see the module doc)."""

    def apply(self, func: Any, target: Any, _tunable: bool) -> Any:
        """A schedule of ``func`` for ``target``, or None when the rule does not apply."""
        sch = llvm_schedule(func, target)
        if sch is None:
            return None
        return schedule_spatial_major(sch, target, lambda s, block: not is_multiply_accumulate(s, block))
