"""SCPI data encodings: IEEE 488.2 definite-length binary blocks, ASCII number lists, and the affine map
between a device's value range and an instrument's integer codes.

A definite-length block is ``#<n><length><payload>``: one digit ``n`` (1-9) saying how many digits the
decimal byte count ``length`` has, then exactly ``length`` payload bytes (IEEE 488.2-1992, 7.7.6). These
functions are pure (bytes in, bytes or arrays out); the host reads blocks with them in
:mod:`hwsim.instruments.session` and the simulated instruments parse uploads with the same code.
"""

from __future__ import annotations

import numpy as np

from hwsim.instruments.errors import BlockFormatError

# dtype names a chain file may use for block data, as numpy kinds without byte order
BLOCK_DTYPES = ("int8", "uint8", "int16", "uint16", "int32", "uint32", "float32", "float64")
BYTE_ORDERS = {"big": ">", "little": "<"}


def encode_block(payload: bytes) -> bytes:
    """``payload`` framed as a definite-length block ``#<n><length><payload>``."""
    length = str(len(payload))
    if len(length) > 9:
        raise BlockFormatError(f"a definite-length block holds at most 999,999,999 bytes, not {len(payload):,d}; "
                               "send the data in several commands")
    return b"#" + str(len(length)).encode() + length.encode() + bytes(payload)


def block_header(buf: bytes | bytearray) -> tuple[int, int] | None:
    """``(offset, length)`` of the block starting at ``buf[0]``: payload starts at ``offset`` and is ``length``
    bytes long. ``None`` when ``buf`` is too short to hold the whole header yet; :class:`BlockFormatError`
    when it is not a definite-length block header."""
    start = 0
    while start < len(buf) and buf[start] in b" \t\r\n":
        start += 1
    if start >= len(buf):
        return None
    if buf[start:start + 1] != b"#":
        head = bytes(buf[start:start + 24])
        hint = ""
        if b"#" in head:
            hint = (f" (it starts with {head[:head.index(b'#')]!r} before the '#': turn response headers off, "
                    "e.g. ':SYSTem:HEADer OFF' or 'HEADer OFF')")
        raise BlockFormatError(f"expected an IEEE 488.2 binary block starting with '#', got {head!r}{hint}; check "
                               "the waveform format setting (e.g. ':WAVeform:FORMat BYTE', 'DATa:ENCdg RIBinary')")
    if len(buf) < start + 2:
        return None
    digit = buf[start + 1:start + 2]
    if digit == b"0":
        raise BlockFormatError("the instrument sent an indefinite-length block ('#0'); set it to definite-length "
                               "blocks, whose header states the byte count")
    if not digit.isdigit():
        raise BlockFormatError(f"malformed block header {bytes(buf[start:start + 12])!r}: '#' must be followed by "
                               "the number of length digits (1-9)")
    n = int(digit)
    if len(buf) < start + 2 + n:
        return None
    count = bytes(buf[start + 2:start + 2 + n])
    if not count.isdigit():
        raise BlockFormatError(f"malformed block header {bytes(buf[start:start + 2 + n])!r}: the byte count "
                               f"{count!r} is not {n} decimal digits")
    return start + 2 + n, int(count)


def decode_block(buf: bytes | bytearray) -> tuple[bytes, bytes]:
    """Split ``buf`` into the payload of the block at its start and whatever follows the block.

    Raises :class:`BlockFormatError` when the header is malformed or the payload is shorter than it declares.
    """
    head = block_header(buf)
    if head is None:
        raise BlockFormatError(f"the block header is cut short ({bytes(buf[:12])!r}); the instrument sent "
                               f"{len(buf)} bytes in all")
    offset, length = head
    payload = bytes(buf[offset:offset + length])
    if len(payload) < length:
        raise BlockFormatError(f"short binary block: its header declares {length:,d} bytes but only "
                               f"{len(payload):,d} arrived; check the cable/link and the instrument's transfer "
                               "settings")
    return payload, bytes(buf[offset + length:])


def numpy_dtype(dtype: str, byte_order: str = "big") -> np.dtype:
    """The numpy dtype of block values named ``dtype`` (one of :data:`BLOCK_DTYPES`) in ``byte_order``."""
    if dtype not in BLOCK_DTYPES:
        raise BlockFormatError(f"unknown block dtype '{dtype}'; use one of {', '.join(BLOCK_DTYPES)}")
    if byte_order not in BYTE_ORDERS:
        raise BlockFormatError(f"unknown byte order '{byte_order}'; use 'big' or 'little'")
    return np.dtype(dtype).newbyteorder(BYTE_ORDERS[byte_order])


def pack_values(values: np.ndarray, dtype: str, byte_order: str = "big") -> bytes:
    """``values`` (already in the instrument's units) as raw bytes of ``dtype`` in ``byte_order``."""
    dt = numpy_dtype(dtype, byte_order)
    arr = np.asarray(values)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        if arr.size and (arr.min() < info.min or arr.max() > info.max):
            raise BlockFormatError(f"codes span {arr.min()}..{arr.max()}, outside {dtype} ({info.min}..{info.max}); "
                                   "fix 'codes' in the chain file's write encoding")
    return arr.astype(dt).tobytes()


def unpack_values(payload: bytes, dtype: str, byte_order: str = "big") -> np.ndarray:
    """The values of a block payload of ``dtype`` in ``byte_order``, as float64."""
    dt = numpy_dtype(dtype, byte_order)
    if len(payload) % dt.itemsize:
        raise BlockFormatError(f"a block of {len(payload):,d} bytes is not a whole number of {dtype} values "
                               f"({dt.itemsize} bytes each); check the instrument's data width setting")
    return np.frombuffer(payload, dtype=dt).astype(np.float64)


def format_ascii(values: np.ndarray, integer: bool, digits: int = 6, separator: str = ",") -> str:
    """``values`` as an ASCII list: integers, or floats with ``digits`` significant digits."""
    arr = np.asarray(values)
    if integer:
        return separator.join(str(int(v)) for v in np.rint(arr))
    return separator.join(f"{float(v):.{digits}g}" for v in arr)


def parse_ascii(text: str, separator: str = ",") -> np.ndarray:
    """The numbers of an ASCII list reply, as float64; :class:`BlockFormatError` on anything else."""
    body = text.strip()
    if not body:
        raise BlockFormatError("the instrument sent an empty data reply; check that an acquisition completed")
    if body.startswith("#"):
        raise BlockFormatError("the instrument sent a binary block where the chain file expects an ASCII list; "
                               "set the read encoding's format to 'block' or switch the instrument to ASCII")
    parts = body.split(separator)
    try:
        return np.array([float(p) for p in parts], dtype=np.float64)
    except ValueError:
        bad = next(p for p in parts if not _is_number(p))
        raise BlockFormatError(f"malformed ASCII data: {bad.strip()[:32]!r} is not a number; turn response headers "
                               "off and check the data format setting") from None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def to_codes(x: np.ndarray, value_range: tuple[float, float], code_range: tuple[float, float],
             integer: bool) -> np.ndarray:
    """Map ``x`` from ``value_range`` linearly onto ``code_range`` (clipping to it, as a DAC does), rounded to
    integers when ``integer``."""
    lo, hi = value_range
    c_lo, c_hi = code_range
    y = c_lo + (np.asarray(x, dtype=np.float64) - lo) * ((c_hi - c_lo) / (hi - lo))
    y = np.clip(y, min(c_lo, c_hi), max(c_lo, c_hi))
    return np.rint(y).astype(np.int64) if integer else y


def from_codes(codes: np.ndarray, value_range: tuple[float, float], code_range: tuple[float, float]) -> np.ndarray:
    """The inverse of :func:`to_codes` (without rounding): codes back onto ``value_range``."""
    lo, hi = value_range
    c_lo, c_hi = code_range
    return lo + (np.asarray(codes, dtype=np.float64) - c_lo) * ((hi - lo) / (c_hi - c_lo))
