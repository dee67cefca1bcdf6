"""COBS, CRC and frame codec: known vectors, round trips, malformed frames, streaming reader."""

from __future__ import annotations

import zlib

import pytest

from hwsim.protocol import cobs
from hwsim.protocol.errors import FrameError
from hwsim.protocol.frame import (FLAG_RESPONSE, FLAG_RETRANSMIT, HEADER, Frame, FrameReader, decode_frame,
                                  encode_frame, frame_bytes)

# vectors from Cheshire & Baker's paper and the Wikipedia COBS article
VECTORS = [
    (b"", b"\x01"),
    (b"\x00", b"\x01\x01"),
    (b"\x00\x00", b"\x01\x01\x01"),
    (b"\x00\x11\x00", b"\x01\x02\x11\x01"),
    (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
    (b"\x11\x22\x33\x44", b"\x05\x11\x22\x33\x44"),
    (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
    (bytes(range(1, 255)), b"\xff" + bytes(range(1, 255))),
    (bytes(range(0, 255)), b"\x01\xff" + bytes(range(1, 255))),
    (bytes(range(1, 256)), b"\xff" + bytes(range(1, 255)) + b"\x02\xff"),
    (bytes(range(2, 256)) + b"\x00", b"\xff" + bytes(range(2, 256)) + b"\x01\x01"),
    (bytes(range(3, 256)) + b"\x00\x01", b"\xfe" + bytes(range(3, 256)) + b"\x02\x01"),
]


@pytest.mark.parametrize("raw, encoded", VECTORS)
def test_cobs_known_vectors(raw: bytes, encoded: bytes) -> None:
    assert cobs.encode(raw) == encoded
    assert cobs.decode(encoded) == raw


@pytest.mark.parametrize("n", [0, 1, 253, 254, 255, 507, 508, 509, 1000])
@pytest.mark.parametrize("zeros", ["none", "start", "end", "every_100"])
def test_cobs_round_trip_lengths(n: int, zeros: str) -> None:
    data = bytearray((i % 255) + 1 for i in range(n))
    if n and zeros == "start":
        data[0] = 0
    elif n and zeros == "end":
        data[-1] = 0
    elif zeros == "every_100":
        data[::100] = bytes(len(data[::100]))
    enc = cobs.encode(bytes(data))
    assert 0 not in enc
    assert len(enc) <= len(data) + len(data) // 254 + 1
    assert cobs.decode(enc) == bytes(data)


def test_cobs_decoder_accepts_trailing_empty_block_variant() -> None:
    # some encoders end a 254-byte run with an extra empty block; it must decode the same
    data = bytes(range(1, 255))
    assert cobs.decode(cobs.encode(data) + b"\x01") == data


@pytest.mark.parametrize("bad", [b"\x00", b"\x05\x11\x22", b"\x02\x00", b"\x03\x11\x00"])
def test_cobs_rejects_invalid(bad: bytes) -> None:
    with pytest.raises(FrameError):
        cobs.decode(bad)


def test_crc_is_ieee_802_3_check_value() -> None:
    assert zlib.crc32(b"123456789") == 0xCBF43926


def test_frame_layout_and_round_trip() -> None:
    f = Frame(type=0x02, seq=0x1234, body=b"\x00\x01\x02", flags=FLAG_RESPONSE, status=5)
    raw = frame_bytes(f)
    assert raw[:10] == bytes([1, 0x02, FLAG_RESPONSE, 5, 0x34, 0x12, 3, 0, 0, 0])
    assert raw[-4:] == zlib.crc32(raw[:-4]).to_bytes(4, "little")
    wire = encode_frame(f)
    assert wire.endswith(b"\x00") and wire.count(0) == 1
    assert decode_frame(wire) == f
    assert decode_frame(wire[:-1]) == f
    assert decode_frame(wire).is_response and not decode_frame(wire).is_retransmit
    assert Frame(1, 1, flags=FLAG_RETRANSMIT).is_retransmit


def test_other_version_decodes_as_well_formed() -> None:
    assert decode_frame(encode_frame(Frame(1, 7, version=2))).version == 2


def _wire(raw: bytes) -> bytes:
    return cobs.encode(raw) + b"\x00"


@pytest.mark.parametrize("case", ["short", "length_long", "length_short", "crc", "bitflip"])
def test_malformed_frames_raise_frame_error(case: str) -> None:
    good = frame_bytes(Frame(0x05, 9, b"hello"))
    if case == "short":
        raw = good[:13]
    elif case == "length_long":
        raw = HEADER.pack(1, 5, 0, 0, 9, 6) + good[10:]
    elif case == "length_short":
        raw = HEADER.pack(1, 5, 0, 0, 9, 4) + good[10:]
    elif case == "crc":
        raw = good[:-1] + bytes([good[-1] ^ 0xFF])
    else:
        raw = good[:12] + bytes([good[12] ^ 0x10]) + good[13:]
    with pytest.raises(FrameError):
        decode_frame(_wire(raw))


def test_reader_reassembles_any_chunking() -> None:
    frames = [Frame(0x02, i, bytes([i, 0, i]) * i) for i in range(1, 6)]
    stream = b"".join(encode_frame(f) for f in frames)
    for size in (1, 2, 3, 7, 64, len(stream)):
        reader = FrameReader()
        got = []
        for i in range(0, len(stream), size):
            got += reader.feed(stream[i:i + size])
        assert got == frames
        assert reader.pending == 0


def test_reader_reports_garbage_and_resynchronises() -> None:
    good = encode_frame(Frame(0x05, 3, b"x"))
    reader = FrameReader()
    out = reader.feed(b"\x00\x00junk without zero" + b"\x00" + good[:5])
    assert len(out) == 1 and isinstance(out[0], FrameError)
    assert reader.feed(good[5:]) == [Frame(0x05, 3, b"x")]


def test_reader_discards_oversized_frame_once() -> None:
    reader = FrameReader(max_frame=32)
    out = reader.feed(b"\x01" * 40)
    assert len(out) == 1 and isinstance(out[0], FrameError)
    assert reader.feed(b"\x01" * 100) == []
    good = encode_frame(Frame(0x05, 4))
    assert reader.feed(b"\x00" + good) == [Frame(0x05, 4)]

