"""Issue 12, acceptance 1: misbehaving boards on real ptys.

Every case ends within its declared budget (:func:`hwsim.remote.request_budget_s`, plus the stated
margin) with a specific :class:`hwsim.errors.HwsimError` subclass and a sentence, and ``hwsim probe``
reports it as an error line, never a traceback.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from hwsim.cli import main
from hwsim.errors import HwsimError
from hwsim.protocol.errors import (DeviceUnplugged, EchoingLine, FrameError, HelloError, LinkTimeout, SchemaMismatch,
                                   VersionMismatch)
from hwsim.protocol.hello import MAX_DEPTH
from hwsim.remote import HELLO_REPLY_B, RemoteDevice, request_budget_s
from tests.hwsim import hostile
from tests.hwsim.hostile import MARGIN_S, RogueBoard

TIMEOUT, RETRIES, RECONNECT = 0.2, 2, 0.5
HELLO_BUDGET = request_budget_s(TIMEOUT, RETRIES, 0, HELLO_REPLY_B)


def _open(path: str) -> RemoteDevice:
    return RemoteDevice(path, timeout=TIMEOUT, retries=RETRIES, reconnect_timeout_s=RECONNECT)


def _probe_reports(path: str, capsys: pytest.CaptureFixture[str], match: str) -> None:
    """``hwsim probe`` exits 2 with one error sentence (an unexpected exception would fail the test here)."""
    capsys.readouterr()
    assert main(["probe", path, "--timeout", str(TIMEOUT), "--retries", str(RETRIES)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hwsim probe: error: ") and "Traceback" not in err
    assert match.lower() in err.lower(), err


def _sentence(exc: BaseException) -> str:
    text = str(exc)
    assert len(text.split()) >= 8, f"not a sentence: {text!r}"
    return text


HANDSHAKE_CASES = [
    ("silent", hostile.silent, LinkTimeout, "heard nothing"),
    ("garbage", hostile.garbage, LinkTimeout, "corrupted"),
    ("empty frames", hostile.empty_frames, LinkTimeout, "no valid reply"),
    ("flood", hostile.flood, LinkTimeout, "no valid reply"),
    ("half frames", hostile.half_frames, LinkTimeout, "no valid reply"),
    ("trickle during HELLO", hostile.trickle_hello, LinkTimeout, "no complete reply in time"),
    ("echo", hostile.echo, EchoingLine, "echoes"),
    ("huge HELLO", hostile.lying_hello(hostile.huge()), LinkTimeout, "corrupted"),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name, behave, error, match", HANDSHAKE_CASES, ids=[c[0] for c in HANDSHAKE_CASES])
def test_misbehaving_board_fails_the_handshake_within_its_budget(name, behave, error, match, capsys) -> None:
    board = RogueBoard(behave)
    try:
        t0 = time.monotonic()
        with pytest.raises(error) as info:
            _open(board.path)
        took = time.monotonic() - t0
        assert took <= HELLO_BUDGET + MARGIN_S, f"{name}: {took:.2f} s > budget {HELLO_BUDGET:.2f} s"
        assert match in _sentence(info.value)
        _probe_reports(board.path, capsys, match)
    finally:
        board.close()


@pytest.mark.timeout(60)
def test_trickling_board_cannot_stretch_a_large_measure() -> None:
    board = RogueBoard(hostile.trickle_measure)
    try:
        with _open(board.path) as dev:
            x = np.zeros((1023, 16), np.float32)
            budget = dev.budget_s(4 + 1023 * 32, 4 + 1023 * 32)
            assert budget < 5  # the line time of 64 KiB counts at the pty's assumed 1 Mbaud, not at 9600
            t0 = time.monotonic()
            with pytest.raises(LinkTimeout, match="no complete reply in time") as info:
                dev.measure(x)
            took = time.monotonic() - t0
        assert took <= budget + MARGIN_S, f"{took:.2f} s > budget {budget:.2f} s"
        _sentence(info.value)
    finally:
        board.close()


@pytest.mark.timeout(60)
def test_board_that_hangs_up_ends_within_budget_plus_reconnect_timeout() -> None:
    board = RogueBoard(hostile.hang_up_on_measure)
    try:
        with _open(board.path) as dev:
            budget = dev.budget_s(36, 36) + RECONNECT
            t0 = time.monotonic()
            with pytest.raises(DeviceUnplugged, match="went away") as info:
                dev.measure(np.zeros((1, 16), np.float32))
            took = time.monotonic() - t0
        assert took <= budget + MARGIN_S, f"{took:.2f} s > budget {budget:.2f} s"
        assert "(None)" not in _sentence(info.value)
    finally:
        board.close()


@pytest.mark.timeout(30)
def test_board_that_lies_about_a_measurement_is_a_frame_error() -> None:
    board = RogueBoard(hostile.lying_measure)
    try:
        with _open(board.path) as dev, pytest.raises(FrameError, match="returned 1 samples for a MEASURE of 2"):
            dev.measure(np.zeros((2, 16), np.float32))
    finally:
        board.close()


LIES = [  # (field, lying value, what the error must say)
    ("protocol", 2, "declares protocol 2"),
    ("protocol", "1", "declares protocol '1'"),
    ("firmware_version", "v" * 500, "'firmware_version'"),
    ("serial_number", 7, "'serial_number'"),
    ("schema_hash", "0" * 16, "declares schema hash '0000000000000000'"),
    ("name", "", "'name'"),
    ("name", "\x1b[2Jboard", "'name'"),
    ("input_shape", [0], "'input_shape[0]' is 0"),
    ("input_shape", ["<1e999>"], "'input_shape[0]' is inf"),
    ("input_shape", [], "'input_shape'"),
    ("output_shape", [-4], "'output_shape[0]'"),
    ("output_shape", [1 << 30], "'output_shape[0]'"),
    ("input_range", [0.5, 0.5], "lo < hi"),
    ("input_range", ["<NaN>", 1.0], "non-JSON constant NaN"),
    ("input_range", [1.0, 0.0], "lo < hi"),
    ("input_range", [-1.0, 0.0, 1.0], "two numbers"),
    ("output_range", [0.0, 1e39], "float32 range"),
    ("output_range", "wide", "two numbers"),
    ("dac_bits", 64, "'dac_bits' is 64"),
    ("dac_bits", True, "'dac_bits' is True"),
    ("dac_bits", 12.5, "'dac_bits' is 12.5"),
    ("adc_bits", 0, "'adc_bits' is 0"),
    ("dtype", "float64", "float32 values only"),
    ("max_batch", 0, "'max_batch' is 0"),
    ("max_batch", "<1e999>", "'max_batch' is inf"),
    ("max_payload", 8, "'max_payload' is 8"),
    ("max_payload", 20, "cannot carry a single measurement"),
    ("params", {"gain": [0]}, "'params.gain[0]' is 0"),
    ("params", ["gain"], "'params'"),
    ("params", {"": [1]}, "parameter names"),
    ("limits", {"max_abs_input": "<NaN>"}, "non-JSON constant NaN"),
    ("limits", {"max_abs_input": "high"}, "'limits.max_abs_input'"),
    ("capabilities", "everything", "'capabilities'"),
    ("auth", {"scheme": "md5", "challenge": "00" * 16}, "'auth'"),
    ("auth", {"scheme": "hmac-sha256", "challenge": "xyz"}, "'auth.challenge'"),
    ("name", None, "lack 'name'"),
    ("max_payload", None, "lack 'max_payload'"),
]


@pytest.mark.timeout(120)
def test_every_hello_field_that_lies_is_refused_with_a_sentence(capsys) -> None:
    for field, value, match in LIES:
        board = RogueBoard(hostile.lying_hello(hostile.hello_with(**{field: value})))
        try:
            t0 = time.monotonic()
            with pytest.raises((HelloError, VersionMismatch, SchemaMismatch)) as info:
                _open(board.path)
            assert time.monotonic() - t0 <= HELLO_BUDGET + MARGIN_S
            assert match in _sentence(info.value), (field, value, str(info.value))
            _probe_reports(board.path, capsys, match)
        finally:
            board.close()


@pytest.mark.parametrize("body, match", [(hostile.nested(10_000), "nests JSON 10001 levels"),
                                         (hostile.nested(MAX_DEPTH), "nests JSON"),
                                         (b'{"name": 1' + b"0" * 5000 + b"}", "integer of 5001 digits"),
                                         (b"[1, 2]", "not an object"),
                                         (b"\xff\xfe", "not UTF-8"),
                                         (b"{\"name\": ", "not valid JSON")])
def test_malformed_hello_bodies_are_hello_errors(body: bytes, match: str, capsys) -> None:
    board = RogueBoard(hostile.lying_hello(body))
    try:
        with pytest.raises(HelloError, match=match):
            _open(board.path)
        _probe_reports(board.path, capsys, match)
    finally:
        board.close()


def test_every_error_above_is_an_hwsim_error() -> None:
    for cls in (LinkTimeout, EchoingLine, DeviceUnplugged, FrameError, HelloError, VersionMismatch, SchemaMismatch):
        assert issubclass(cls, HwsimError)
