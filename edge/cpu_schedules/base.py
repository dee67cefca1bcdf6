"""What the CPU schedule rules share: the guard that turns a rule's failure into "not applicable", the
target's vector width, and the small analyses of a fused TIR function the rules decide on."""

from __future__ import annotations

from typing import Any


def vector_lanes(target: Any, dtype_bits: int = 32) -> int:
    """Lanes of the target's SIMD registers for elements of ``dtype_bits`` bits (at least 4): 8 float32
    lanes on AVX2, 16 on AVX-512, 4 on NEON."""
    from tvm.target.codegen import llvm_get_vector_width

    try:
        bits = int(llvm_get_vector_width(target))
    except Exception:  # noqa: BLE001 - a target LLVM cannot describe
        bits = 128
    return max(bits // max(dtype_bits, 8), 4) if bits > 0 else max(128 // dtype_bits, 4)


def accumulator_registers(target: Any) -> int:
    """Vector registers a register tile may hold: 12 of the 16 of AVX2/SSE, 24 of the 32 of AVX-512
    and of aarch64's NEON/SVE (the rest hold the operands)."""
    from tvm.target.codegen import llvm_get_vector_width

    triple = str(target.attrs.get("mtriple", "")) if hasattr(target, "attrs") else ""
    try:
        bits = int(llvm_get_vector_width(target))
    except Exception:  # noqa: BLE001
        bits = 128
    return 24 if bits >= 512 or triple.startswith("aarch64") else 12


def guarded(rule: Any) -> Any:
    """``rule`` as a DLight rule that answers "not applicable" (None) instead of raising, so a schedule
    primitive refusing one function sends it to the next rule instead of failing the build."""
    from tvm.s_tir.dlight import ScheduleRule

    class Guarded(ScheduleRule):
        def apply(self, func: Any, target: Any, tunable: bool) -> Any:
            try:
                return rule.apply(func, target, tunable)
            except Exception:  # noqa: BLE001 - ScheduleError, TVMError, analysis asserts
                return None

        def __repr__(self) -> str:
            return f"guarded({type(rule).__name__})"

    return Guarded()
