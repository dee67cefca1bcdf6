"""Default CPU schedule for functions without reductions: padding, transposes and layout changes, bias
and activation chains, concatenations, casts.

Blocks are inlined into their consumers where TVM allows it (one pass over memory instead of one per
block); every remaining block gets its innermost loop vectorised (in multiples of the SIMD width when
they divide it) and its outer loops fused into one parallel loop.
"""

from __future__ import annotations

from typing import Any

from edge.cpu_schedules.base import llvm_schedule, vector_lanes
from edge.cpu_schedules.tiling import is_reduction, loads, uses_var, vectorize_inner


class Elementwise:
    """DLight-style rule: injective functions (see the module doc)."""

    def apply(self, func: Any, target: Any, _tunable: bool) -> Any:
        """A schedule of ``func`` for ``target``, or None when the rule does not apply."""
        from tvm.s_tir.dlight.analysis import normalize_prim_func

        sch = llvm_schedule(func, target)
        if sch is None:
            return None
        infos = normalize_prim_func(sch)
        if not infos or any(is_reduction(sch, info.block_rv) for info in infos):
            return None
        blocks = [info.block_rv for info in infos]
        outputs = {sch.get(b).name_hint for b in sch.get_output_blocks(sch.get_sblock("root"))} \
            if _has_root(sch) else set()
        kept = []
        for b in blocks:
            if sch.get(b).name_hint in outputs:
                kept.append(b)
                continue
            try:
                sch.compute_inline(b)
            except Exception:  # noqa: BLE001 - not inlinable (e.g. read with an overlapping window)
                kept.append(b)
        dtype_bits = max(sch.get(b).writes[0].source.dtype.bits for b in kept) if kept else 32
        lanes = vector_lanes(target, dtype_bits)
        for b in kept:
            if not tile_transpose(sch, b):
                vectorize_inner(sch, b, lanes)
        return sch


TRANSPOSE_TILE = 16  # at most this many elements along each axis of a tile (the largest divisor)


def _innermost_var(index: Any, iter_vars: list[Any]) -> int | None:
    hits = [k for k, iv in enumerate(iter_vars) if uses_var(index, iv.var)]
    return hits[0] if len(hits) == 1 else None


def tile_transpose(sch: Any, block: Any) -> bool:
    """Schedule a block that reads along one axis and writes along another (a transpose or layout change)
    in square tiles, so both the reads and the writes of a tile stay in cache: the outer loops parallel,
    the tile's write axis innermost. True when the block was of that kind and is now scheduled."""
    stmt = sch.get(block)
    srcs = [ld for ld in loads(sch, block) if len(ld.indices) > 1]
    if len(srcs) != 1 or not hasattr(stmt.body, "indices"):
        return False
    iters = list(stmt.iter_vars)
    loops = sch.get_loops(block)
    if len(loops) != len(iters):
        return False
    write_axis = _innermost_var(stmt.body.indices[-1], iters)
    read_axis = _innermost_var(srcs[0].indices[-1], iters)
    if write_axis is None or read_axis is None or write_axis == read_axis:
        return False
    extents = [int(iv.dom.extent) for iv in iters]
    r_tile = max(d for d in range(1, TRANSPOSE_TILE + 1) if extents[read_axis] % d == 0)
    w_tile = max(d for d in range(1, TRANSPOSE_TILE + 1) if extents[write_axis] % d == 0)
    if min(r_tile, w_tile) < 4:
        return False
    r_o, r_i = sch.split(loops[read_axis], [None, r_tile])
    w_o, w_i = sch.split(loops[write_axis], [None, w_tile])
    others = [lp for k, lp in enumerate(loops) if k not in (read_axis, write_axis)]
    sch.reorder(*others, r_o, w_o, r_i, w_i)
    sch.parallel(sch.fuse(*others, r_o) if others else r_o)
    sch.unroll(w_i)
    return True


def _has_root(sch: Any) -> bool:
    try:
        sch.get_sblock("root")
        return True
    except Exception:  # noqa: BLE001
        return False
