"""Message types, status codes and body encoders/decoders of protocol v1 (see docs/protocol.md)."""

from __future__ import annotations

import functools
import math
import struct
from enum import IntEnum
from typing import Any, Mapping, NoReturn

import numpy as np

from hwsim.errors import ConfigError, ShapeError
from hwsim.protocol.errors import (AuthError, BoardBusy, BoardInUse, DeviceUnplugged, FrameError, InterlockError,
                                   ProtocolError, RemoteDeviceError, RequestError, VersionMismatch)
from hwsim.protocol.native import NATIVE
from hwsim.quantise import code_dtype, from_codes, lsb, to_codes

U32 = struct.Struct("<I")
PING_HEAD = struct.Struct("<II")


class MsgType(IntEnum):
    """Message types (header byte 1)."""

    HELLO = 0x01
    MEASURE = 0x02
    SET_PARAMS = 0x03
    GET_PARAMS = 0x04
    PING = 0x05
    AUTH = 0x06


class Status(IntEnum):
    """Response status codes (header byte 3)."""

    OK = 0
    ERR_FRAME = 1
    ERR_VERSION = 2
    ERR_TYPE = 3
    ERR_REQUEST = 4
    ERR_DEVICE = 5
    ERR_INTERLOCK = 6
    ERR_BUSY = 7
    ERR_TOO_LARGE = 8
    ERR_LOCKED = 9
    ERR_AUTH = 10
    ERR_IDLE = 11


# what the host raises for each error status; ERR_BUSY is retried first and raised only when retries run out
STATUS_ERRORS: dict[int, type[ProtocolError]] = {
    Status.ERR_FRAME: FrameError,
    Status.ERR_VERSION: VersionMismatch,
    Status.ERR_TYPE: RequestError,
    Status.ERR_REQUEST: RequestError,
    Status.ERR_DEVICE: RemoteDeviceError,
    Status.ERR_INTERLOCK: InterlockError,
    Status.ERR_BUSY: BoardBusy,
    Status.ERR_TOO_LARGE: RequestError,
    Status.ERR_LOCKED: BoardInUse,
    Status.ERR_AUTH: AuthError,
    Status.ERR_IDLE: DeviceUnplugged,
}
MAX_MESSAGE = 400  # characters of a board's error text the host repeats


def status_name(status: int) -> str:
    """``ERR_...`` name of a status code, or ``status N`` when unknown."""
    try:
        return Status(status).name
    except ValueError:
        return f"status {status}"


def board_text(body: bytes) -> str:
    """A board's error message made safe to print: UTF-8 (invalid bytes replaced), control characters
    escaped, at most :data:`MAX_MESSAGE` characters."""
    text = bytes(body[:4 * MAX_MESSAGE]).decode("utf-8", "replace").strip()
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    if len(text) > MAX_MESSAGE:
        text = text[:MAX_MESSAGE] + "..."
    return text or "(no message)"


def raise_for_status(status: int, body: bytes, what: str) -> NoReturn:
    """Raise the exception the host owes the user for an error response to ``what``."""
    text = board_text(body)
    cls = STATUS_ERRORS.get(status, RemoteDeviceError)
    if status == Status.ERR_LOCKED:
        raise cls(f"board busy: another host holds it (the board answered {what} with: {text}); wait until that "
                  "host disconnects (the board drops a silent host after its idle timeout) or stop it")
    hint = {
        Status.ERR_VERSION: "; the board speaks another protocol version: update hwsim or the firmware",
        Status.ERR_INTERLOCK: "; not retried: check the input against the board's limits and reset the setup",
        Status.ERR_TOO_LARGE: "; send smaller batches (the board's max_payload is in its HELLO)",
        Status.ERR_BUSY: "; the board stayed busy through every retry: wait and try again",
        Status.ERR_AUTH: "; give the board's shared secret (secret_file=..., hwsim probe --secret-file, or the "
                         "HWSIM_SECRET_FILE environment variable)",
    }.get(status, "")
    raise cls(f"board answered {status_name(status)} to {what}: {text}{hint}")


# -- samples ---------------------------------------------------------------------------------------
@functools.cache
def wire_dtype(bits: int | None) -> np.dtype:
    """Dtype of one sample on the wire: converter codes for ``bits``, float32 when ``bits`` is None."""
    return np.dtype("<f4") if bits is None else code_dtype(bits).newbyteorder("<")


def sample_bytes(shape: tuple[int, ...], bits: int | None) -> int:
    """Bytes one sample of ``shape`` takes on the wire."""
    return math.prod(shape) * wire_dtype(bits).itemsize


def encode_samples(x: np.ndarray, value_range: tuple[float, float], bits: int | None) -> bytes:
    """``u32 n`` then the samples of batch ``x`` (codes when ``bits`` is set, else float32)."""
    arr = np.asarray(x)
    if bits is None:
        payload = np.ascontiguousarray(arr, dtype="<f4").tobytes()
    elif NATIVE is not None and arr.dtype == np.float32 and arr.flags.c_contiguous:
        lo, hi = value_range
        payload = NATIVE.to_codes(arr, float(lo), float(hi), lsb(value_range, bits), code_dtype(bits).itemsize)
    else:
        payload = to_codes(arr, value_range, bits).astype(wire_dtype(bits), copy=False).tobytes()
    return U32.pack(arr.shape[0]) + payload


def decode_samples(body: bytes, shape: tuple[int, ...], value_range: tuple[float, float],
                   bits: int | None) -> np.ndarray:
    """Invert :func:`encode_samples`: float32 batch of ``(n, *shape)``.

    A body whose size disagrees with its count raises :class:`FrameError`; a converter code beyond
    ``2**bits - 1`` raises :class:`RequestError`.
    """
    if len(body) < U32.size:
        raise FrameError(f"sample body of {len(body)} bytes has no u32 count")
    (n,) = U32.unpack_from(body)
    per = sample_bytes(shape, bits)
    if len(body) != U32.size + n * per:
        raise FrameError(f"sample body declares {n} samples of {per} bytes ({U32.size + n * per} bytes) "
                         f"but holds {len(body)} bytes")
    if bits is not None and NATIVE is not None:
        values = np.empty(n * math.prod(shape), dtype=np.float32)
        largest = NATIVE.from_codes(body, U32.size, code_dtype(bits).itemsize, float(value_range[0]),
                                    lsb(value_range, bits), values)
        if largest > (1 << bits) - 1:
            raise RequestError(f"converter code {largest} exceeds the {bits}-bit range 0..{(1 << bits) - 1}")
        return values.reshape((n, *shape))
    raw = np.frombuffer(body, dtype=wire_dtype(bits), offset=U32.size)
    if bits is None:
        values = raw.astype(np.float32)
    else:
        if raw.size and raw.max() > (1 << bits) - 1:
            raise RequestError(f"converter code {int(raw.max())} exceeds the {bits}-bit range 0..{(1 << bits) - 1}")
        values = from_codes(raw, value_range, bits)
    return values.reshape((n, *shape))


def sample_count(body: bytes) -> int:
    """The ``u32 n`` at the start of a MEASURE body (0 when the body is too short)."""
    return U32.unpack_from(body)[0] if len(body) >= U32.size else 0


# -- parameter blocks ---------------------------------------------------------------------------------
F32_MAX = float(np.finfo(np.float32).max)


def checked_param_values(name: str, value: Any) -> np.ndarray:
    """``value`` as a float32 array, or a :class:`ShapeError` naming parameter ``name`` when it is not real
    numbers, holds NaN or inf, or does not fit float32 (what a board's parameter registers hold)."""
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise ShapeError(f"parameter '{name}' is not an array of numbers: {exc}") from exc
    if arr.dtype.kind not in "fiub":
        what = "complex numbers" if arr.dtype.kind == "c" else f"dtype {arr.dtype}"
        raise ShapeError(f"parameter '{name}' holds {what}; a board parameter takes real float32 values")
    wide = arr.astype(np.float64)
    if not np.isfinite(wide).all():
        raise ShapeError(f"parameter '{name}' holds NaN or inf; nothing was set: pass finite values")
    if wide.size and np.abs(wide).max() > F32_MAX:
        raise ShapeError(f"parameter '{name}' reaches {np.abs(wide).max():.6g}, beyond float32 "
                         f"(|x| <= {F32_MAX:.6g}); nothing was set")
    return wide.astype(np.float32)


def checked_params(params: Any) -> dict[str, np.ndarray]:
    """A ``{name: values}`` mapping with every value passed through :func:`checked_param_values`; anything
    else (a string, a list, a non-text name) is a :class:`ConfigError`."""
    if not isinstance(params, Mapping):
        raise ConfigError(f"set_params takes a dict of parameter name -> array, got {type(params).__name__}")
    out = {}
    for name, value in params.items():
        if not isinstance(name, str):
            raise ConfigError(f"parameter names are strings, got {name!r}")
        out[name] = checked_param_values(name, value)
    return out


def encode_params(params: Mapping[str, np.ndarray]) -> bytes:
    """Parameter block: ``u8 count`` then ``u8 name_len, name, u32 n_values, float32 * n_values`` each."""
    if len(params) > 255:
        raise RequestError(f"{len(params)} parameters do not fit one block (at most 255)")
    out = bytearray([len(params)])
    for name, value in params.items():
        raw = name.encode("ascii", "replace")
        if not 0 < len(raw) < 256 or not name.isascii():
            raise RequestError(f"parameter name '{name}' must be 1..255 ASCII characters")
        vals = np.ascontiguousarray(value, dtype="<f4").ravel()
        out.append(len(raw))
        out += raw
        out += U32.pack(vals.size)
        out += vals.tobytes()
    return bytes(out)


def decode_params(body: bytes) -> dict[str, np.ndarray]:
    """Invert :func:`encode_params`: name -> flat float32 values; truncated or padded blocks raise
    :class:`FrameError`."""
    if not body:
        raise FrameError("parameter block is empty; it needs at least the u8 count")
    count, pos = body[0], 1
    params: dict[str, np.ndarray] = {}
    for _ in range(count):
        if pos >= len(body):
            raise FrameError("parameter block ends before its declared count of parameters")
        n = body[pos]
        name_raw = body[pos + 1:pos + 1 + n]
        pos += 1 + n
        if len(name_raw) != n or pos + U32.size > len(body):
            raise FrameError("parameter block ends inside a parameter name or value count")
        name = name_raw.decode("latin-1")  # a non-ASCII name is well-formed, just unknown (ERR_REQUEST)
        (m,) = U32.unpack_from(body, pos)
        pos += U32.size
        if pos + 4 * m > len(body):
            raise FrameError(f"parameter '{name}' declares {m} values but the block ends first")
        params[name] = np.frombuffer(body, dtype="<f4", count=m, offset=pos).astype(np.float32)
        pos += 4 * m
    if pos != len(body):
        raise FrameError(f"parameter block has {len(body) - pos} bytes after its last parameter")
    return params


# -- PING ---------------------------------------------------------------------------------------------
def encode_ping_reply(uptime_ms: int, measurements: int, echo: bytes) -> bytes:
    """PING response body: ``u32 uptime_ms, u32 measurement_count`` then the request's bytes."""
    return PING_HEAD.pack(int(uptime_ms) & 0xFFFFFFFF, int(measurements) & 0xFFFFFFFF) + bytes(echo)


def decode_ping_reply(body: bytes) -> tuple[int, int, bytes]:
    """``(uptime_ms, measurement_count, echo)`` of a PING response body."""
    if len(body) < PING_HEAD.size:
        raise FrameError(f"PING reply of {len(body)} bytes is shorter than its 8-byte head")
    up, count = PING_HEAD.unpack_from(body)
    return up, count, bytes(body[PING_HEAD.size:])
