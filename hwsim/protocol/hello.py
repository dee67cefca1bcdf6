"""The HELLO capabilities of protocol v1: what a board declares, encoded, parsed and held to a bounded schema.

A board's HELLO reply is untrusted input. :func:`decode_hello` refuses bodies over
:data:`HELLO_MAX_BYTES`, JSON nested deeper than :data:`MAX_DEPTH`, the non-JSON constants NaN and
Infinity and integers of more than :data:`MAX_INT_DIGITS` digits; :func:`validate_capabilities` checks
every field (types, bounds, finite numbers, ordered ranges, positive shapes, converter bits 1..32, a
max_payload that carries one sample each way). Every failure is a :class:`HelloError` whose sentence
names the field. The Python board validates its own capabilities with the same function, so a device
it cannot describe honestly is refused before it is served.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from hwsim.device import DeviceInfo
from hwsim.protocol.errors import HelloError
from hwsim.protocol.frame import VERSION
from hwsim.protocol.messages import sample_bytes

HELLO_MAX_BYTES = 65536
MAX_DEPTH = 6
MAX_INT_DIGITS = 20
MAX_KEYS = 64
MAX_TEXT = 128
MAX_DIMS = 8
MAX_ELEMENTS = 1 << 24
MAX_PARAM_VALUES = 1 << 20
MAX_BATCH = 1 << 24
MAX_PAYLOAD = 1 << 24
MIN_PAYLOAD = 16
AUTH_SCHEME = "hmac-sha256"
CAPABILITIES = ("measure", "set_params", "get_params", "ping")
F32_MAX = float(np.finfo(np.float32).max)
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")
_HEX = re.compile(r"[0-9a-f]+")
FIX = "fix the board's HELLO (docs/protocol.md, 'HELLO capabilities')"


@dataclass(frozen=True)
class Hello:
    """A validated HELLO: the device the board declares, its max payload and its auth challenge (or None)."""

    info: DeviceInfo
    max_payload: int
    challenge: bytes | None
    caps: Mapping[str, Any]


def hello_capabilities(info: DeviceInfo, max_payload: int, protocol: int = VERSION,
                       challenge: bytes | None = None) -> dict[str, Any]:
    """The HELLO capabilities object a board serving a device with ``info`` declares (with an ``auth``
    entry when the board has a shared secret and sent ``challenge``)."""
    d = info.to_dict()
    caps = {k: d[k] for k in ("firmware_version", "serial_number", "name", "input_shape", "output_shape",
                              "input_range", "output_range", "dac_bits", "adc_bits", "dtype", "max_batch",
                              "params", "limits")}
    caps.update(protocol=protocol, schema_hash=info.schema_hash(), max_payload=int(max_payload),
                capabilities=[c for c in CAPABILITIES if info.params or c not in ("set_params", "get_params")])
    if challenge is not None:
        caps["auth"] = {"scheme": AUTH_SCHEME, "challenge": challenge.hex()}
    return caps


def encode_hello(caps: Mapping[str, Any]) -> bytes:
    """HELLO response body: compact UTF-8 JSON with sorted keys."""
    return json.dumps(dict(caps), sort_keys=True, separators=(",", ":")).encode("utf-8")


def _reject_constant(name: str) -> Any:
    raise HelloError(f"HELLO reply contains the non-JSON constant {name}; numbers must be finite; {FIX}")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise HelloError(f"HELLO reply contains an integer of {len(text)} digits (at most {MAX_INT_DIGITS}); {FIX}")
    return int(text)


def json_depth(text: str) -> int:
    """Deepest nesting of objects and arrays in JSON ``text`` (brackets inside strings do not count)."""
    depth = deepest = 0
    for ch in _BRACKETS.findall(_STRINGS.sub("", text)):
        depth += 1 if ch in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def decode_hello(body: bytes) -> dict[str, Any]:
    """Parse a HELLO response body into a dict, refusing oversized, too deeply nested or non-standard JSON
    with :class:`HelloError` (a :class:`~hwsim.protocol.errors.ProtocolError`)."""
    if len(body) > HELLO_MAX_BYTES:
        raise HelloError(f"HELLO reply of {len(body)} bytes is over the {HELLO_MAX_BYTES}-byte limit; {FIX}")
    try:
        text = bytes(body).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HelloError(f"HELLO reply is not UTF-8: {exc}; {FIX}") from exc
    depth = json_depth(text)
    if depth > MAX_DEPTH:
        raise HelloError(f"HELLO reply nests JSON {depth} levels deep (at most {MAX_DEPTH}); {FIX}")
    try:
        caps = json.loads(text, parse_constant=_reject_constant, parse_int=_bounded_int)
    except ValueError as exc:
        raise HelloError(f"HELLO reply is not valid JSON: {exc}; {FIX}") from exc
    if not isinstance(caps, dict):
        raise HelloError(f"HELLO reply is a JSON {type(caps).__name__}, not an object; {FIX}")
    if len(caps) > MAX_KEYS:
        raise HelloError(f"HELLO reply has {len(caps)} keys (at most {MAX_KEYS}); {FIX}")
    return caps


# -- field checks ------------------------------------------------------------------------------------------
def _bad(key: str, value: Any, rule: str) -> HelloError:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return HelloError(f"HELLO field '{key}' is {shown}: {rule}; {FIX}")


def _whole(key: str, value: Any, lo: int, hi: int) -> int:
    """An integer (or an integral float) within ``lo..hi``."""
    ok = (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, float) and math.isfinite(value) and value.is_integer())
    if not ok or not lo <= value <= hi:
        raise _bad(key, value, f"it must be a whole number from {lo} to {hi}")
    return int(value)


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _bad(key, value, "it must be a finite number")
    if abs(value) > F32_MAX:
        raise _bad(key, value, f"it must be within the float32 range (|x| <= {F32_MAX:.4g})")
    return float(value)


def _text(key: str, value: Any, limit: int = MAX_TEXT, empty: bool = True) -> str:
    if not isinstance(value, str) or len(value) > limit or (not empty and not value) or not value.isprintable():
        raise _bad(key, value, f"it must be printable text of {'0' if empty else '1'} to {limit} characters")
    return value


def _shape(key: str, value: Any, min_dims: int = 1, max_elements: int = MAX_ELEMENTS) -> tuple[int, ...]:
    if not isinstance(value, list) or not min_dims <= len(value) <= MAX_DIMS:
        raise _bad(key, value, f"it must be a list of {min_dims} to {MAX_DIMS} positive whole numbers")
    dims = tuple(_whole(f"{key}[{i}]", v, 1, max_elements) for i, v in enumerate(value))
    if math.prod(dims) > max_elements:
        raise _bad(key, value, f"it holds {math.prod(dims)} elements, more than {max_elements}")
    return dims


def _range(key: str, value: Any) -> tuple[float, float]:
    if not isinstance(value, list) or len(value) != 2:
        raise _bad(key, value, "it must be a list of two numbers [lo, hi]")
    lo, hi = (_number(f"{key}[{i}]", v) for i, v in enumerate(value))
    if not np.float32(lo) < np.float32(hi):
        raise _bad(key, value, "it needs lo < hi, distinct in float32 (an empty or reversed full scale maps every "
                               "value to one code)")
    return lo, hi


def _bits(key: str, value: Any) -> int | None:
    return None if value is None else _whole(key, value, 1, 32)


def _mapping(key: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_KEYS:
        raise _bad(key, value, f"it must be an object with at most {MAX_KEYS} entries")
    return value


def _need(caps: Mapping[str, Any], key: str) -> Any:
    if key not in caps:
        raise HelloError(f"HELLO capabilities lack '{key}'; the board does not follow protocol v1; {FIX}")
    return caps[key]


def _params(value: Any) -> dict[str, tuple[int, ...]]:
    params: dict[str, tuple[int, ...]] = {}
    total = 0
    for name, shape in _mapping("params", value).items():
        if not (0 < len(name) < 256 and name.isascii() and name.isprintable()):
            raise _bad("params", name, "parameter names must be 1 to 255 printable ASCII characters")
        params[name] = _shape(f"params.{name}", shape, min_dims=0, max_elements=MAX_PARAM_VALUES)
        total += math.prod(params[name])
    if total > MAX_PARAM_VALUES:
        raise _bad("params", value, f"they hold {total} values in all, more than {MAX_PARAM_VALUES}")
    return params


def _challenge(value: Any) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("scheme") != AUTH_SCHEME:
        raise _bad("auth", value, f"it must be {{\"scheme\": \"{AUTH_SCHEME}\", \"challenge\": \"<hex>\"}}")
    challenge = value.get("challenge")
    if not isinstance(challenge, str) or not 32 <= len(challenge) <= 128 or len(challenge) % 2 \
            or not _HEX.fullmatch(challenge):
        raise _bad("auth.challenge", challenge, "it must be 32 to 128 lowercase hex digits (16 to 64 random bytes)")
    return bytes.fromhex(challenge)


def validate_capabilities(caps: Mapping[str, Any]) -> Hello:
    """Check every HELLO field against the protocol's schema; the declared device, max payload and challenge.

    The protocol number is checked by the caller (a different version is a
    :class:`~hwsim.protocol.errors.VersionMismatch`, not a malformed HELLO); the schema hash is compared
    by the caller too (``hwsim probe --schema-hash`` accepts a wrong one).
    """
    if not isinstance(caps, Mapping):
        raise HelloError(f"HELLO capabilities are a {type(caps).__name__}, not an object; {FIX}")
    _text("schema_hash", caps.get("schema_hash", ""), limit=64)
    input_shape = _shape("input_shape", _need(caps, "input_shape"))
    output_shape = _shape("output_shape", _need(caps, "output_shape"))
    dac_bits, adc_bits = _bits("dac_bits", caps.get("dac_bits")), _bits("adc_bits", caps.get("adc_bits"))
    dtype = caps.get("dtype", "float32")
    if dtype != "float32":
        raise _bad("dtype", dtype, "protocol v1 carries float32 values only")
    max_batch = _whole("max_batch", _need(caps, "max_batch"), 1, MAX_BATCH)
    max_payload = _whole("max_payload", _need(caps, "max_payload"), MIN_PAYLOAD, MAX_PAYLOAD)
    for shape, bits, side in ((input_shape, dac_bits, "input"), (output_shape, adc_bits, "output")):
        need = 4 + sample_bytes(shape, bits)
        if need > max_payload:
            raise _bad("max_payload", max_payload, f"one {side} sample needs a {need}-byte body; the board cannot "
                                                   "carry a single measurement")
    caps_list = caps.get("capabilities", list(CAPABILITIES))
    if not isinstance(caps_list, list) or len(caps_list) > 32:
        raise _bad("capabilities", caps_list, "it must be a list of at most 32 names")
    for i, c in enumerate(caps_list):
        _text(f"capabilities[{i}]", c, limit=32)
    limits = {}
    for name, v in _mapping("limits", caps.get("limits")).items():
        limits[_text("limits", name, limit=64, empty=False)] = _number(f"limits.{name}", v)
    info = DeviceInfo(
        name=_text("name", _need(caps, "name"), empty=False),
        input_shape=input_shape, output_shape=output_shape,
        input_range=_range("input_range", _need(caps, "input_range")),
        output_range=_range("output_range", _need(caps, "output_range")),
        dac_bits=dac_bits, adc_bits=adc_bits, dtype=dtype, max_batch=max_batch,
        firmware_version=_text("firmware_version", caps.get("firmware_version", "")),
        serial_number=_text("serial_number", caps.get("serial_number", "")),
        params=_params(caps.get("params")), limits=limits)
    return Hello(info=info, max_payload=max_payload, challenge=_challenge(caps.get("auth")), caps=dict(caps))


def info_from_capabilities(caps: Mapping[str, Any]) -> DeviceInfo:
    """The :class:`DeviceInfo` a board declares, with numbers normalised (ranges float, shapes int); any
    field that breaks the schema raises :class:`HelloError` naming it."""
    return validate_capabilities(caps).info
