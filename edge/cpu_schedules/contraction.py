"""Default CPU schedule for contractions: convolutions (dense, grouped and depthwise), dense layers and
matrix products, with their padding and element-wise epilogue (bias, batch norm, activation).

Applies to a fused function with one multiply-accumulate reduction block whose iterators are spatial
then reduction and whose vector axis (the last spatial one) is each operand's innermost axis or absent
from it: NHWC/HWIO convolutions vectorise over output channels, matmuls over columns. Scheduled by
:func:`edge.cpu_schedules.tiling.tile_reduction` (register tile, local accumulator, epilogue folded
into the write-back); the other blocks are vectorised on their own.
"""

from __future__ import annotations

from typing import Any

from edge.cpu_schedules.base import llvm_schedule, vector_lanes, vector_registers
from edge.cpu_schedules.tiling import (is_reduction, reduction_axes, subexpressions, tile_reduction,
                                       vector_axis_is_inner, vector_position, vectorize_inner)


def is_multiply_accumulate(sch: Any, block: Any) -> bool:
    """True when the block's update is ``C = C + (... * ...)`` (casts allowed around the product)."""
    from tvm import tirx

    body = sch.get(block).body
    if not isinstance(body, tirx.BufferStore) or not isinstance(body.value, tirx.Add):
        return False
    return any(isinstance(e, tirx.Mul) for e in subexpressions(body.value))


def single_reduction(sch: Any) -> tuple[Any, list[Any]] | None:
    """(the one reduction block, the other blocks) of a normalised function, or None."""
    from tvm.s_tir.dlight.analysis import normalize_prim_func

    infos = normalize_prim_func(sch)
    if infos is None:
        return None
    blocks = [info.block_rv for info in infos]
    reductions = [b for b in blocks if is_reduction(sch, b)]
    if len(reductions) != 1:
        return None
    return reductions[0], [b for b in blocks if not b.same_as(reductions[0])]


def schedule_spatial_major(sch: Any, target: Any, accept: Any) -> Any:
    """Tile the single reduction of ``sch`` when ``accept(sch, block)`` holds and its axes fit; vectorise
    every other block; the schedule, or None."""
    found = single_reduction(sch)
    if found is None:
        return None
    block, others = found
    axes = reduction_axes(sch, block)
    if axes is None or not accept(sch, block):
        return None
    vec_pos = vector_position(sch, block, len(axes[0]))
    dtype_bits = sch.get(block).writes[0].source.dtype.bits
    lanes = vector_lanes(target, dtype_bits)
    if not vector_axis_is_inner(sch, block, vec_pos, lanes):
        return None
    tile_reduction(sch, block, lanes, vector_registers(target))
    for other in others:
        try:
            sch.get(other)
        except Exception:  # noqa: BLE001 - folded into the write-back
            continue
        vectorize_inner(sch, other, lanes)
    return sch


class Contraction:
    """DLight-style rule: multiply-accumulate reductions (see the module doc)."""

    def apply(self, func: Any, target: Any, _tunable: bool) -> Any:
        """A schedule of ``func`` for ``target``, or None when the rule does not apply."""
        sch = llvm_schedule(func, target)
        return None if sch is None else schedule_spatial_major(sch, target, is_multiply_accumulate)
