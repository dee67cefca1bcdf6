"""Uniform DAC/ADC quantisation shared by the non-ideality models and the wire protocol."""

from __future__ import annotations

import functools

import numpy as np


@functools.cache
def code_dtype(bits: int) -> np.dtype:
    """The smallest unsigned integer dtype that holds codes of ``bits`` bits."""
    if not 1 <= bits <= 32:
        raise ValueError(f"converter resolution must be 1..32 bits, got {bits}")
    if bits <= 8:
        return np.dtype(np.uint8)
    if bits <= 16:
        return np.dtype("<u2")
    return np.dtype("<u4")


def lsb(value_range: tuple[float, float], bits: int) -> float:
    """Size of one code step for a converter spanning ``value_range`` with ``bits`` bits."""
    lo, hi = value_range
    return (hi - lo) / float((1 << bits) - 1)


def to_codes(x: np.ndarray, value_range: tuple[float, float], bits: int) -> np.ndarray:
    """Clip ``x`` to the converter's full scale and round it to integer codes 0 .. 2**bits - 1."""
    lo, hi = value_range
    step = lsb(value_range, bits)
    y = np.array(x, dtype=np.float64)  # a private float64 copy, worked on in place
    np.minimum(np.maximum(y, lo, out=y), hi, out=y)  # np.clip, without its Python-level dispatch
    y -= lo
    y /= step
    return np.rint(y, out=y).astype(code_dtype(bits))


def from_codes(codes: np.ndarray, value_range: tuple[float, float], bits: int) -> np.ndarray:
    """Map integer codes back to float32 values on the converter's full scale."""
    lo, _ = value_range
    y = np.array(codes, dtype=np.float64)
    y *= lsb(value_range, bits)
    y += lo
    return y.astype(np.float32)


def quantise(x: np.ndarray, value_range: tuple[float, float], bits: int | None) -> np.ndarray:
    """Clip and quantise ``x`` as a converter of ``bits`` bits would; ``None`` bits passes float32 through."""
    if bits is None:
        return np.asarray(x, dtype=np.float32)
    return from_codes(to_codes(x, value_range, bits), value_range, bits)
