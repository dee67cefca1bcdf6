"""Hypothesis fuzzing: random and mutated bytes only ever produce FrameError (decoders) or silence/replies (board)."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwsim.protocol import cobs
from hwsim.protocol.errors import FrameError, ProtocolError
from hwsim.protocol.frame import Frame, FrameReader, decode_frame, encode_frame
from hwsim.protocol.hello import decode_hello, info_from_capabilities
from hwsim.protocol.messages import (MsgType, decode_params, decode_ping_reply, decode_samples, encode_params,
                                     encode_samples)
from hwsim.reference import ReferenceDevice
from hwsim.server import DeviceServer

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ROUND_TRIP = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

valid_frames = st.builds(
    Frame,
    type=st.integers(0, 255), seq=st.integers(0, 0xFFFF), body=st.binary(max_size=600),
    flags=st.integers(0, 255), status=st.integers(0, 255), version=st.integers(0, 255))


@st.composite
def mutated_wire(draw: st.DrawFn) -> bytes:
    """A valid frame's wire bytes with bytes flipped, inserted, deleted or cut."""
    wire = bytearray(encode_frame(draw(valid_frames)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "set"]))
        pos = draw(st.integers(0, max(0, len(wire) - 1)))
        if op == "flip" and wire:
            wire[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            wire.insert(pos, draw(st.integers(0, 255)))
        elif op == "delete" and len(wire) > 1:
            del wire[pos]
        elif op == "truncate":
            del wire[pos:]
        elif wire:
            wire[pos] = draw(st.integers(0, 255))
    return bytes(wire)


def _decode_or_frame_error(data: bytes) -> None:
    try:
        assert isinstance(decode_frame(data), Frame)
    except FrameError:
        pass


@FUZZ
@given(st.binary(max_size=2000))
def test_random_bytes_decode_only_to_frame_error(data: bytes) -> None:
    _decode_or_frame_error(data)
    try:
        cobs.decode(data)
    except FrameError:
        pass


@FUZZ
@given(mutated_wire())
def test_mutated_frames_decode_only_to_frame_error(data: bytes) -> None:
    _decode_or_frame_error(data)


@ROUND_TRIP
@given(valid_frames)
def test_valid_frames_round_trip(frame: Frame) -> None:
    assert decode_frame(encode_frame(frame)) == frame


@FUZZ
@given(st.lists(st.one_of(mutated_wire(), st.binary(max_size=300)), max_size=6), st.integers(1, 64))
def test_reader_yields_only_frames_and_frame_errors(pieces: list[bytes], chunk: int) -> None:
    stream = b"".join(pieces)
    reader = FrameReader(max_frame=512)
    for i in range(0, len(stream), chunk):
        for item in reader.feed(stream[i:i + chunk]):
            assert isinstance(item, (Frame, FrameError))


@FUZZ
@given(st.binary(max_size=400))
def test_body_decoders_raise_only_protocol_errors(body: bytes) -> None:
    for decode in (lambda b: decode_samples(b, (4,), (-1.0, 1.0), 12), lambda b: decode_samples(b, (2,), (0, 1), None),
                   decode_params, decode_ping_reply, lambda b: info_from_capabilities(decode_hello(b))):
        try:
            decode(body)
        except ProtocolError:
            pass


@ROUND_TRIP
@given(st.dictionaries(st.text("abcdefgh_", min_size=1, max_size=12), st.lists(st.floats(width=32), max_size=8),
                       max_size=5))
def test_param_blocks_round_trip(params: dict[str, list[float]]) -> None:
    arrays = {k: np.asarray(v, np.float32) for k, v in params.items()}
    back = decode_params(encode_params(arrays))
    assert list(back) == list(arrays)
    for k in arrays:
        assert back[k].tobytes() == arrays[k].tobytes()


@ROUND_TRIP
@given(st.lists(st.lists(st.floats(-2, 2, width=32), min_size=4, max_size=4), max_size=20))
def test_sample_codes_round_trip_to_quantised_values(rows: list[list[float]]) -> None:
    from hwsim.quantise import quantise

    x = np.asarray(rows, np.float32).reshape(-1, 4)
    y = decode_samples(encode_samples(x, (-1.0, 1.0), 12), (4,), (-1.0, 1.0), 12)
    assert np.array_equal(y, quantise(x, (-1.0, 1.0), 12))


BOARD = DeviceServer(ReferenceDevice(n_in=4, n_out=4, seed=1, dac_bits=None, adc_bits=None), max_payload=256)


@FUZZ
@given(st.lists(st.one_of(mutated_wire(), st.binary(max_size=200),
                          st.builds(lambda t, b, s: encode_frame(Frame(t, s, b)), st.sampled_from(list(MsgType)),
                                    st.binary(max_size=80), st.integers(0, 0xFFFF))), max_size=6))
def test_board_never_raises_and_replies_with_valid_frames(pieces: list[bytes]) -> None:
    reader = FrameReader()
    for piece in pieces:
        for item in reader.feed(BOARD.feed(piece)):
            assert isinstance(item, Frame) and item.is_response and item.version == 1
