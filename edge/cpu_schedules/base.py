"""What the CPU schedule rules share: the guard that turns a rule's failure into "not applicable", the
target's vector width, and the small analyses of a fused TIR function the rules decide on."""

from __future__ import annotations

from typing import Any


def vector_bits(target: Any) -> int:
    """Width in bits of the target's SIMD registers: from its CPU features on x86 (512 with AVX-512F, 256
    with AVX, else 128), LLVM's answer elsewhere (128 when LLVM cannot describe the target).

    The features decide on x86 because LLVM's vector width of a CPU name is not what the CPU has: it
    answers 512 for ``znver3``, which has no AVX-512, and a tile planned for 16 lanes then needs twice
    the registers there are."""
    from tvm.target.codegen import llvm_get_vector_width, target_has_features

    triple = str(target.attrs.get("mtriple", "")) if hasattr(target, "attrs") else ""
    try:
        if not triple or triple.startswith(("x86_64", "i686", "i386")):
            if target_has_features("avx512f", target):
                return 512
            if target_has_features("avx", target):
                return 256
            if target_has_features("sse2", target):
                return 128
        bits = int(llvm_get_vector_width(target))
    except Exception:  # noqa: BLE001 - a target LLVM cannot describe
        return 128
    return bits if bits > 0 else 128


def vector_lanes(target: Any, dtype_bits: int = 32) -> int:
    """Lanes of the target's SIMD registers for elements of ``dtype_bits`` bits (at least 4): 8 float32
    lanes on AVX2, 16 on AVX-512, 4 on NEON."""
    return max(vector_bits(target) // max(dtype_bits, 8), 4)


def vector_registers(target: Any) -> int:
    """Architectural SIMD registers of the target: 32 on AVX-512 and aarch64 (NEON, SVE), else 16
    (AVX2, AVX, SSE)."""
    triple = str(target.attrs.get("mtriple", "")) if hasattr(target, "attrs") else ""
    return 32 if vector_bits(target) >= 512 or triple.startswith("aarch64") else 16


def llvm_schedule(func: Any, target: Any) -> Any | None:
    """A fresh schedule of ``func`` when it is a TIR function and ``target`` a CPU (LLVM) target, the
    functions every CPU rule is for; else None."""
    from tvm import s_tir, tirx

    if not isinstance(func, tirx.PrimFunc) or target.kind.name != "llvm":
        return None
    return s_tir.Schedule(func)


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
