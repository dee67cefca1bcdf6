"""The register-tiled schedule of a spatial-major reduction, shared by the contraction and window rules.

A fused function of this kind has one reduction block ``R`` whose iterators are spatial then reduction
(``SSSS RRR``: a convolution, a dense layer, a matrix product, a pooling window), producers before it
(padding, transposes) and element-wise consumers after it (bias, batch norm, activation). Its schedule:

- the last spatial axis with more than one element (output channels in NHWC, columns of a matmul) is
  the **vector axis**: split into ``V`` lanes (one to four SIMD registers) and vectorised; the axis before
  it is the **row axis**, split into ``Rr`` rows and unrolled, so ``Rr x V`` accumulators stay in
  registers while the reduction loops run, with the ``V / lanes`` weight vectors and one broadcast
  input (:func:`fits`);
- loop order ``[vector blocks, outer spatial, row blocks, reduction..., rows, lanes]``: a block of
  weights (reduction x ``V``) is reused across every row of the output before the next block;
- the accumulation goes to a local buffer (``cache_write``) written back after the reduction, with the
  element-wise consumers inlined into one (:func:`inline_epilogue`) and folded into the write-back
  (``reverse_compute_inline``);
- producers and consumers that cannot be folded are computed on their own, vectorised on their inner
  axis; the outermost fused loop is parallel;
- a grouped convolution's vector axis is split by group first (:func:`channel_group`).

Tile sizes are chosen to divide the axes (no tail predicates, which scalarise the vectors): a matrix
product with a ragged axis is first padded (:func:`pad_ragged_axes`; the packed kernels of
:mod:`edge.weight_packing` pad their own rows); an axis no good tile divides is otherwise vectorised
whole when it is short (LLVM splits an odd vector into legal ones).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

REGISTERS = 16  # architectural vector registers (AVX2, SSE); 32 on AVX-512 and aarch64
MAX_VECTORS = 8  # at most this many registers across the vector axis
MAX_WHOLE = 64  # a vector axis up to this length, no tile dividing it, is vectorised whole


@dataclass(frozen=True)
class TilePlan:
    """Tiles of one reduction block: ``rows`` along the row axis, ``vector`` elements along the vector axis
    in registers of ``lanes`` elements (``vector`` itself when the axis is vectorised whole)."""

    rows: int
    vector: int
    lanes: int


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def fits(rows: int, regs: int, registers: int = REGISTERS) -> bool:
    """True when a tile of ``rows`` x ``regs`` accumulator registers, the ``regs`` weight vectors it reuses
    across its rows and one broadcast input fit in ``registers`` (a tile that does not is spilled: 3 x 4
    on AVX2 runs at 40 % of 6 x 2)."""
    return rows * regs + regs + 1 <= registers


def choose_tiles(row_extent: int, vec_extent: int, lanes: int, registers: int = REGISTERS) -> TilePlan:
    """The register tile doing the most multiply-adds per load that :func:`fits` ``registers``, with tiles
    that divide the axes (no tail predicates): ``rows x regs`` accumulators cost ``rows`` broadcasts and
    ``regs`` vector loads a step. Vectors are of the full SIMD width where they divide the vector axis,
    else of half or a quarter of it (an axis of 1000 takes 8-float vectors on AVX-512). Ties go to more
    rows (a smaller weight panel per tile stays in L1), then to wider vectors."""
    best: tuple[tuple[float, int, int, int], TilePlan] | None = None
    sub = lanes
    while sub >= 4:
        for regs in range(1, MAX_VECTORS + 1):
            v = sub * regs
            if vec_extent % v:
                continue
            for r in _divisors(row_extent):
                if not fits(r, regs, registers):
                    break
                score = (round(r * regs / (r + regs), 6), r, sub, v)
                if best is None or score > best[0]:
                    best = (score, TilePlan(r, v, sub))
        if best is not None:
            return best[1]
        sub //= 2
    # no vector of 4 or more lanes divides the axis: vectorise it whole when short, else by its largest
    # short divisor, with the rows that fit
    whole = vec_extent if vec_extent <= MAX_WHOLE else max(d for d in _divisors(vec_extent) if d <= MAX_WHOLE)
    regs = -(-whole // lanes)
    rows = max((r for r in _divisors(row_extent) if fits(r, regs, registers)), default=1)
    return TilePlan(rows, whole, whole)


def _extent(sch: Any, loop: Any) -> int | None:
    from tvm import tirx

    ext = sch.get(loop).extent
    return int(ext.value) if isinstance(ext, tirx.IntImm) else None


def iter_kinds(sch: Any, block: Any) -> str:
    """The block's iterator kinds: ``S`` spatial, ``R`` reduction, ``O`` other."""
    from tvm import tirx

    kinds = {tirx.IterVar.DataPar: "S", tirx.IterVar.CommReduce: "R"}
    return "".join(kinds.get(iv.iter_type, "O") for iv in sch.get(block).iter_vars)


def is_reduction(sch: Any, block: Any) -> bool:
    """True when the block has a reduction iterator."""
    return "R" in iter_kinds(sch, block)


def vectorize_inner(sch: Any, block: Any, lanes: int) -> None:
    """Vectorise a block's innermost loop (split to a multiple of ``lanes`` when it divides, whole when it
    is short) and make its outermost loops one parallel loop."""
    loops = sch.get_loops(block)
    if not loops:
        return
    inner = loops[-1]
    ext = _extent(sch, inner)
    outer_loops = list(loops[:-1])
    if ext is not None and ext > 1:
        if ext <= MAX_WHOLE and (ext <= lanes or ext % lanes):
            sch.vectorize(inner)
        elif ext % lanes == 0:
            factor = max(v for v in (lanes, 2 * lanes, 4 * lanes) if ext % v == 0)
            if factor < ext:
                out, vec = sch.split(inner, [None, factor])
                outer_loops.append(out)
                sch.vectorize(vec)
            else:
                sch.vectorize(inner)
    if len(outer_loops) > 1:
        sch.parallel(sch.fuse(*outer_loops))
    elif outer_loops:
        sch.parallel(outer_loops[0])


def reduction_axes(sch: Any, block: Any) -> tuple[list[Any], list[Any]] | None:
    """(spatial loops, reduction loops) of a block with spatial iterators first and one loop of constant
    extent per iterator (the function normalised by DLight's ``normalize_prim_func``), or None."""
    kinds = iter_kinds(sch, block)
    n_s = len(kinds) - len(kinds.lstrip("S"))
    if "O" in kinds or n_s == 0 or set(kinds[n_s:]) != {"R"}:
        return None
    loops = sch.get_loops(block)
    if len(loops) != len(kinds) or any(_extent(sch, lp) is None for lp in loops):
        return None
    return list(loops[:n_s]), list(loops[n_s:])


def vector_position(sch: Any, block: Any, n_spatial: int) -> int:
    """The vector axis of a reduction block: its last spatial iterator with more than one element."""
    spatial = sch.get(block).iter_vars[:n_spatial]
    return max((i for i, iv in enumerate(spatial) if int(iv.dom.extent) > 1), default=n_spatial - 1)


_CHILDREN = ("a", "b", "value", "args", "indices", "condition", "true_value", "false_value")


def subexpressions(expr: Any) -> list[Any]:
    """``expr`` and every expression under it (TIR's Python API in 0.27 has no expression visitor)."""
    out, stack = [], [expr]
    while stack:
        node = stack.pop()
        out.append(node)
        for name in _CHILDREN:
            child = getattr(node, name, None)
            if child is None or isinstance(child, (int, float, str)):
                continue
            if isinstance(child, (list, tuple)) or type(child).__name__ == "Array":
                stack.extend(c for c in child if not isinstance(c, (int, float, str)))
            else:
                stack.append(child)
    return out


def uses_var(expr: Any, var: Any) -> bool:
    """True when ``expr`` reads the variable ``var``."""
    from tvm.tirx.analysis import undefined_vars

    return any(v.same_as(var) for v in undefined_vars(expr))


def loads(sch: Any, block: Any) -> list[Any]:
    """The buffer loads of a block's computation (its update, not its init)."""
    return [e for e in subexpressions(sch.get(block).body.value) if type(e).__name__ in ("TensorLoad", "BufferLoad")]


def divisor_of(expr: Any, var: Any) -> int | None:
    """``B`` when ``expr`` is ``var // B`` with a constant ``B``, else None."""
    from tvm import tirx

    if (isinstance(expr, tirx.FloorDiv) and isinstance(expr.a, tirx.Var) and expr.a.same_as(var)
            and isinstance(expr.b, tirx.IntImm)):
        return int(expr.b.value)
    return None


def vector_axis_is_inner(sch: Any, block: Any, vec_pos: int, lanes: int = 1) -> bool:
    """True when no input of ``block`` is indexed by the vector axis outside its innermost dimension,
    except as ``axis // B`` with ``B`` a multiple of ``lanes`` (weights packed in blocks of ``B``
    channels, :mod:`edge.weight_packing`): every operand is then read along its rows a register at a
    time, or broadcast, with no gathers across rows."""
    var = sch.get(block).iter_vars[vec_pos].var
    written = {w.source.name for w in sch.get(block).writes}

    def blocked(index: Any) -> bool:
        divisor = divisor_of(index, var)
        return divisor is not None and divisor % lanes == 0

    for load in loads(sch, block):
        if load.source.name in written:
            continue
        if any(uses_var(index, var) and not blocked(index) for index in list(load.indices)[:-1]):
            return False
    return True


PAD_ROWS = 4  # a row axis with no divisor from 2 to 8 (197 tokens of a ViT) is padded to a multiple of this


def ragged_rows(extent: int) -> bool:
    """True for a row axis no register tile of 2 to 8 rows divides (a prime such as 197): padded to a
    multiple of :data:`PAD_ROWS` before tiling."""
    return extent > 8 and all(extent % d for d in range(2, 9))


def padded_rows(extent: int) -> int:
    """``extent`` rounded up to a multiple of :data:`PAD_ROWS` when :func:`ragged_rows`, else itself."""
    return -(-extent // PAD_ROWS) * PAD_ROWS if ragged_rows(extent) else extent


def pad_ragged_axes(sch: Any, block: Any, lanes: int) -> bool:
    """Pad a matrix product whose vector axis is not a multiple of ``lanes`` or whose row axis has no small
    divisor (197 tokens and 197 keys of a ViT's attention: else one scalar column at a time) to the next
    multiple, with TVM's ``pad_einsum`` (zero-filled input copies, a cropping output copy). True when
    padded; convolutions and other non-einsum blocks are left as they are."""
    kinds = iter_kinds(sch, block)
    n_s = len(kinds) - len(kinds.lstrip("S"))
    if n_s == 0:
        return False
    extents = [int(iv.dom.extent) for iv in sch.get(block).iter_vars]
    vec_pos = vector_position(sch, block, n_s)
    padding = [1] * len(extents)
    if extents[vec_pos] > lanes and extents[vec_pos] % lanes:
        padding[vec_pos] = lanes
    row_pos = max((i for i, e in enumerate(extents[:vec_pos]) if e > 1), default=None)
    if row_pos is not None and ragged_rows(extents[row_pos]):
        padding[row_pos] = PAD_ROWS
    if padding == [1] * len(extents):
        return False
    try:
        sch.pad_einsum(block, padding)
    except Exception:  # noqa: BLE001 - not an einsum (a convolution's shifted window): tiled as it is
        return False
    return True


def channel_group(sch: Any, block: Any, vec_pos: int) -> int | None:
    """The group size ``G`` when an input's innermost index reads the vector axis as ``axis // G`` (a
    grouped convolution: output channel ``c`` reads the input channels of group ``c // G``), else None."""
    var = sch.get(block).iter_vars[vec_pos].var
    written = {w.source.name for w in sch.get(block).writes}
    for load in loads(sch, block):
        if load.source.name in written or not load.indices:
            continue
        for e in subexpressions(list(load.indices)[-1]):
            divisor = divisor_of(e, var)
            if divisor is not None:
                return divisor
    return None


def inline_epilogue(sch: Any, block: Any) -> None:
    """Inline the intermediate element-wise blocks after ``block`` into their consumers, so that its
    epilogue becomes one block the write-back can fold: SiLU (``x * sigmoid(x)``) and GELU read their input
    twice, so they are no chain of single consumers, and each of their steps was otherwise a pass over the
    whole output in memory. A block feeding a reduction is kept (a window would recompute it per read)."""
    after: list[str] = []  # names: a block has a new handle each time it is looked up
    frontier = list(sch.get_consumers(block))
    while frontier:
        current = frontier.pop(0)
        name = sch.get(current).name_hint
        if name in after:
            continue
        after.append(name)
        frontier.extend(sch.get_consumers(current))
    for name in after:
        candidate = sch.get_sblock(name)
        consumers = sch.get_consumers(candidate)
        if is_reduction(sch, candidate) or any(is_reduction(sch, c) for c in consumers):
            continue
        try:
            sch.compute_inline(candidate)
        except Exception:  # noqa: BLE001 - an output block, or not element-wise: computed on its own
            continue


def tile_reduction(sch: Any, block: Any, lanes: int, registers: int = REGISTERS) -> Any:
    """Apply the register-tiled schedule (module doc) to reduction ``block``; returns the write-back block."""
    pad_ragged_axes(sch, block, lanes)
    axes = reduction_axes(sch, block)
    if axes is None:
        raise ValueError("not a spatial-major reduction in normal form")
    spatial, reduction = axes
    extents = [_extent(sch, lp) for lp in spatial]
    vec_pos = vector_position(sch, block, len(spatial))
    row_pos = max((i for i, e in enumerate(extents[:vec_pos]) if e and e > 1), default=None)
    group = channel_group(sch, block, vec_pos)
    group_loops = []
    if group is not None and extents[vec_pos] and group < extents[vec_pos] and extents[vec_pos] % group == 0:
        # a grouped convolution: one group's channels at a time, so an input element is one broadcast
        g_out, g_in = sch.split(spatial[vec_pos], [None, group])
        spatial = [*spatial[:vec_pos], g_in, *spatial[vec_pos + 1:]]
        extents[vec_pos] = group
        group_loops = [g_out]
    plan = choose_tiles(extents[row_pos] if row_pos is not None else 1, extents[vec_pos], lanes, registers)
    regs = plan.vector // plan.lanes
    if regs > 1:  # one SIMD register per vector operation (LLVM keeps <48 x float> poorly in registers)
        v_out, v_reg, v_in = sch.split(spatial[vec_pos], [None, regs, plan.lanes])
    else:
        v_out, v_in = sch.split(spatial[vec_pos], [None, plan.vector])
        v_reg = None
    if row_pos is not None:
        r_out, r_in = sch.split(spatial[row_pos], [None, plan.rows])
    else:
        r_out = r_in = None
    others = [*group_loops, *(lp for i, lp in enumerate(spatial) if i not in (vec_pos, row_pos))]
    outer = [v_out, *others] + ([r_out] if r_out is not None else [])
    inner = ([r_in] if r_in is not None else []) + ([v_reg] if v_reg is not None else []) + [v_in]
    sch.reorder(*outer, *reduction, *inner)
    inline_epilogue(sch, block)
    local = sch.cache_write(block, 0, "local")
    anchor = outer[-1]
    sch.reverse_compute_at(local, anchor, preserve_unit_loops=True)
    # fold the element-wise consumers into the write-back while they are the only readers
    while True:
        consumers = sch.get_consumers(local)
        if len(consumers) != 1 or is_reduction(sch, consumers[0]):
            break
        try:
            sch.reverse_compute_inline(consumers[0])
        except Exception:  # noqa: BLE001 - not element-wise on the tile: leave it to be computed on its own
            break
    # parallelise and vectorise while the block is still a reduction with its init (the update alone is
    # neither a reduction nor a complete block, and parallel/vectorize refuse it), then split the init off
    parallel = outer[:-1] if len(outer) > 1 else outer
    sch.parallel(sch.fuse(*parallel) if len(parallel) > 1 else parallel[0])
    sch.vectorize(v_in)
    if v_reg is not None:
        sch.unroll(v_reg)
    if r_in is not None and plan.rows > 1:
        sch.unroll(r_in)
    init = sch.decompose_reduction(block, reduction[0])
    init_loops = sch.get_loops(init)
    if sch.get(init_loops[-1]).kind != sch.get(v_in).kind:
        sch.vectorize(init_loops[-1])
    wb_loops = sch.get_loops(local)[len(outer):]
    if wb_loops:
        if len(wb_loops) > 1 and plan.rows > 1:
            sch.unroll(wb_loops[-2])
        vectorize_registers(sch, wb_loops[-1], plan.lanes)
    return local


def vectorize_registers(sch: Any, loop: Any, lanes: int) -> None:
    """Vectorise ``loop`` one register at a time: split into unrolled ``lanes``-wide vectors when it is a
    longer multiple of ``lanes``, else vectorise it whole."""
    ext = _extent(sch, loop)
    if ext is not None and ext > lanes and ext % lanes == 0:
        outer, inner = sch.split(loop, [None, lanes])
        sch.vectorize(inner)
        sch.unroll(outer)
    else:
        sch.vectorize(loop)
