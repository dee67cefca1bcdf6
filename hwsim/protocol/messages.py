"""Message types, status codes and body encoders/decoders of protocol v1 (see docs/protocol.md)."""

from __future__ import annotations

import functools
import json
import math
import struct
from enum import IntEnum
from typing import Any, Mapping, NoReturn

import numpy as np

from hwsim.device import DeviceInfo
from hwsim.protocol.errors import (BoardBusy, FrameError, InterlockError, ProtocolError, RemoteDeviceError,
                                   RequestError, VersionMismatch)
from hwsim.protocol.frame import VERSION
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
}

CAPABILITIES = ("measure", "set_params", "get_params", "ping")


def status_name(status: int) -> str:
    """``ERR_...`` name of a status code, or ``status N`` when unknown."""
    try:
        return Status(status).name
    except ValueError:
        return f"status {status}"


def raise_for_status(status: int, body: bytes, what: str) -> NoReturn:
    """Raise the exception the host owes the user for an error response to ``what``."""
    text = body.decode("utf-8", "replace").strip() or "(no message)"
    cls = STATUS_ERRORS.get(status, RemoteDeviceError)
    hint = {
        Status.ERR_VERSION: "; the board speaks another protocol version: update hwsim or the firmware",
        Status.ERR_INTERLOCK: "; not retried: check the input against the board's limits and reset the setup",
        Status.ERR_TOO_LARGE: "; send smaller batches (the board's max_payload is in its HELLO)",
        Status.ERR_BUSY: "; the board stayed busy through every retry: wait and try again",
    }.get(status, "")
    raise cls(f"board answered {status_name(status)} to {what}: {text}{hint}")


# -- samples ---------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
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
    """Invert :func:`encode_params`: name -> flat float32 values. Truncated or padded blocks raise :class:`FrameError`."""
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


# -- HELLO ----------------------------------------------------------------------------------------------
def hello_capabilities(info: DeviceInfo, max_payload: int, protocol: int = VERSION) -> dict[str, Any]:
    """The HELLO capabilities object a board serving a device with ``info`` declares."""
    d = info.to_dict()
    caps = {k: d[k] for k in ("firmware_version", "serial_number", "name", "input_shape", "output_shape",
                              "input_range", "output_range", "dac_bits", "adc_bits", "dtype", "max_batch",
                              "params", "limits")}
    caps.update(protocol=protocol, schema_hash=info.schema_hash(), max_payload=int(max_payload),
                capabilities=[c for c in CAPABILITIES if info.params or c not in ("set_params", "get_params")])
    return caps


def encode_hello(caps: Mapping[str, Any]) -> bytes:
    """HELLO response body: compact UTF-8 JSON with sorted keys."""
    return json.dumps(dict(caps), sort_keys=True, separators=(",", ":")).encode("utf-8")


def decode_hello(body: bytes) -> dict[str, Any]:
    """Parse a HELLO response body; malformed JSON or a non-object raises :class:`FrameError`."""
    try:
        caps = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FrameError(f"HELLO reply is not UTF-8 JSON: {exc}") from exc
    if not isinstance(caps, dict):
        raise FrameError("HELLO reply is not a JSON object")
    return caps


def info_from_capabilities(caps: Mapping[str, Any]) -> DeviceInfo:
    """Build the :class:`DeviceInfo` a board declares, with numbers normalised (ranges float, shapes int).

    Missing or ill-typed fields raise :class:`FrameError` naming the field.
    """
    def need(key: str) -> Any:
        if key not in caps:
            raise FrameError(f"HELLO capabilities lack '{key}'; the board does not follow protocol v1")
        return caps[key]

    def bits(key: str) -> int | None:
        v = caps.get(key)
        return None if v is None else int(v)

    try:
        return DeviceInfo(
            name=str(need("name")),
            input_shape=tuple(int(v) for v in need("input_shape")),
            output_shape=tuple(int(v) for v in need("output_shape")),
            input_range=tuple(float(v) for v in need("input_range")),  # type: ignore[arg-type]
            output_range=tuple(float(v) for v in need("output_range")),  # type: ignore[arg-type]
            dac_bits=bits("dac_bits"), adc_bits=bits("adc_bits"),
            dtype=str(caps.get("dtype", "float32")),
            max_batch=int(need("max_batch")),
            firmware_version=str(caps.get("firmware_version", "")),
            serial_number=str(caps.get("serial_number", "")),
            params={str(k): tuple(int(s) for s in v) for k, v in dict(caps.get("params") or {}).items()},
            limits={str(k): float(v) for k, v in dict(caps.get("limits") or {}).items()},
        )
    except (TypeError, ValueError, AttributeError) as exc:
        raise FrameError(f"HELLO capabilities have a field of the wrong type: {exc}") from exc


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
