"""The C extension (COBS, converter codes) gives exactly what the pure-Python and numpy paths give."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwsim.protocol import cobs, messages
from hwsim.protocol.errors import FrameError, RequestError
from hwsim.protocol.native import NATIVE

needs_native = pytest.mark.skipif(NATIVE is None, reason="C extension not built (no compiler at install)")
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# byte strings with long zero-free runs (254-byte blocks), zeros, and both
zeroish = st.one_of(st.binary(max_size=1200),
                    st.lists(st.sampled_from([b"\x00", b"\x01" * 253, b"\x02" * 254, b"\x03" * 255, b"ab"]),
                             max_size=8).map(b"".join))


def test_extension_is_built_where_a_compiler_exists() -> None:
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler here")
    if os.environ.get("HWSIM_PURE_PYTHON", "") not in ("", "0"):
        pytest.skip("HWSIM_PURE_PYTHON is set")
    assert NATIVE is not None, "setup.py should have built hwsim.protocol._wire_c; the install fell back to Python"


def test_pure_python_switch() -> None:
    code = "from hwsim.protocol import cobs, native; print(native.NATIVE is None, cobs.encode(b'a\\x00b'))"
    env = {**os.environ, "HWSIM_PURE_PYTHON": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split(None, 1) == ["True", "b'\\x02a\\x02b'\n"]


@needs_native
@SETTINGS
@given(zeroish)
def test_cobs_encode_matches_python(data: bytes) -> None:
    encoded = NATIVE.cobs_encode(data)
    assert encoded == cobs.encode_py(data)
    assert NATIVE.cobs_decode(encoded) == data


def _outcome(fn, data: bytes) -> tuple[str, object]:  # noqa: ANN001
    try:
        return "ok", fn(data)
    except FrameError as exc:
        return "error", str(exc)


@needs_native
@SETTINGS
@given(st.binary(max_size=600))
def test_cobs_decode_matches_python_on_any_bytes(data: bytes) -> None:
    assert _outcome(cobs.decode, data) == _outcome(cobs.decode_py, data)


@needs_native
def test_cobs_decode_errors_are_frame_errors() -> None:
    with pytest.raises(FrameError, match="zero byte"):
        cobs.decode(b"\x03a\x00")
    with pytest.raises(FrameError, match="runs 2 bytes past the end"):
        cobs.decode(b"\x05ab")


def _both(monkeypatch: pytest.MonkeyPatch, fn, *args):  # noqa: ANN001, ANN202
    native = fn(*args)
    monkeypatch.setattr(messages, "NATIVE", None)
    python = fn(*args)
    monkeypatch.setattr(messages, "NATIVE", NATIVE)
    return native, python


@needs_native
@pytest.mark.parametrize("bits", [1, 7, 8, 9, 12, 16, 17, 24, 32])
@pytest.mark.parametrize("value_range", [(-1.0, 1.0), (0.0, 3.3), (-5.0, 2.5), (0, 1)])
def test_codes_match_numpy(bits: int, value_range: tuple[float, float], monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(bits)
    lo, hi = value_range
    x = np.concatenate([rng.uniform(lo - 1, hi + 1, 3000), rng.uniform(lo, hi, 3000),
                        [lo, hi, np.inf, -np.inf, 0.0, -0.0]]).astype(np.float32).reshape(-1, 3)
    native, python = _both(monkeypatch, messages.encode_samples, x, value_range, bits)
    assert native == python
    got, want = _both(monkeypatch, messages.decode_samples, native, (3,), value_range, bits)
    assert got.dtype == want.dtype == np.float32 and got.flags.writeable
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))  # the same bits, -0.0 included
    if bits <= 12:  # every code decodes to the same float and encodes back to itself
        codes = np.arange(1 << bits, dtype=messages.wire_dtype(bits))
        body = messages.U32.pack(codes.size) + codes.tobytes()
        got, want = _both(monkeypatch, messages.decode_samples, body, (), value_range, bits)
        np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))
        assert messages.encode_samples(got, value_range, bits) == body


@needs_native
def test_code_beyond_range_is_the_same_error(monkeypatch: pytest.MonkeyPatch) -> None:
    body = messages.U32.pack(3) + np.array([5, 4096, 4097], "<u2").tobytes()
    messages_seen = []
    for native in (NATIVE, None):
        monkeypatch.setattr(messages, "NATIVE", native)
        with pytest.raises(RequestError) as info:
            messages.decode_samples(body, (), (-1.0, 1.0), 12)
        messages_seen.append(str(info.value))
    assert messages_seen[0] == messages_seen[1] and "4097" in messages_seen[0]


@needs_native
def test_non_contiguous_and_other_dtypes_take_the_numpy_path(monkeypatch: pytest.MonkeyPatch) -> None:
    x = np.linspace(-1, 1, 64, dtype=np.float64).reshape(8, 8)
    for arr in (x, x.astype(np.float32)[:, ::2], x.astype(">f4")):
        native, python = _both(monkeypatch, messages.encode_samples, arr, (-1.0, 1.0), 12)
        assert native == python
