"""Consistent Overhead Byte Stuffing (Cheshire & Baker 1999): byte strings without 0x00.

The encoder is greedy: a run of 254 non-zero bytes becomes one ``0xFF`` block at once, and no block
follows a final ``0xFF`` block. The decoder also accepts the variant that ends with an extra empty
block. Work is done per zero-free run (``bytes.split``), never per byte.

:func:`encode` and :func:`decode` use the C extension when it is built (:mod:`hwsim.protocol.native`:
same behaviour, no Python step per block) and otherwise the pure-Python :func:`encode_py` /
:func:`decode_py`, which stay the reference the tests hold the extension to.
"""

from __future__ import annotations

from hwsim.protocol.errors import FrameError
from hwsim.protocol.native import NATIVE

_MAX_RUN = 254
_CODE = [bytes([n + 1]) for n in range(_MAX_RUN)]


def encode_py(data: bytes) -> bytes:
    """COBS-encode ``data``; the result contains no 0x00 byte (the frame delimiter is not added)."""
    pieces = bytes(data).split(b"\x00")
    if max(map(len, pieces)) < _MAX_RUN:  # common case: every zero-free run fits one block
        return b"".join([_CODE[len(p)] + p for p in pieces])
    out = bytearray()
    last = len(pieces) - 1
    for i, piece in enumerate(pieces):
        n = len(piece)
        full = n // _MAX_RUN
        for k in range(full):
            out.append(0xFF)
            out += piece[k * _MAX_RUN:(k + 1) * _MAX_RUN]
        rest = piece[full * _MAX_RUN:]
        # a block is needed for the zero that follows this piece, or for a non-empty tail,
        # or for an input that is empty or ends with a zero
        if i < last or rest or full == 0:
            out.append(len(rest) + 1)
            out += rest
    return bytes(out)


def decode_py(data: bytes) -> bytes:
    """Invert :func:`encode_py`; raises :class:`FrameError` for input no encoder could have produced."""
    data = bytes(data)
    if 0 in data:
        raise FrameError("COBS data contains a zero byte; frames end at the first 0x00")
    size = len(data)
    blocks: list[bytes] = []
    codes: list[int] = []
    idx = 0
    while idx < size:
        code = data[idx]
        end = idx + code
        blocks.append(data[idx + 1:end])
        codes.append(code)
        idx = end
    if idx > size:
        raise FrameError(f"COBS block of {codes[-1] - 1} bytes runs {idx - size} bytes past the end of the frame")
    # a zero follows every block except a full (0xFF) one and the last one
    if 0xFF not in codes:
        return b"\x00".join(blocks)
    codes[-1] = 0xFF
    return b"".join([block if code == 0xFF else block + b"\x00" for code, block in zip(codes, blocks)])


def encode(data: bytes) -> bytes:
    """COBS-encode ``data``; the result contains no 0x00 byte (the frame delimiter is not added)."""
    return NATIVE.cobs_encode(data) if NATIVE is not None else encode_py(data)


def decode(data: bytes) -> bytes:
    """Invert :func:`encode`; raises :class:`FrameError` for input no encoder could have produced."""
    if NATIVE is None:
        return decode_py(data)
    try:
        return NATIVE.cobs_decode(data)
    except ValueError as exc:
        raise FrameError(str(exc)) from None
