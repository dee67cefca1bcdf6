"""SCPI encodings of hwsim.instruments: IEEE 488.2 definite-length blocks, ASCII lists, code maps, and the
simulated instruments' message splitting and header matching."""

from __future__ import annotations

import numpy as np
import pytest

from hwsim.instruments.blocks import (block_header, decode_block, encode_block, format_ascii, from_codes, pack_values,
                                      parse_ascii, to_codes, unpack_values)
from hwsim.instruments.errors import BlockFormatError
from hwsim.instruments.sim.scpi import header_regex, split_command, split_message


@pytest.mark.parametrize("size", [0, 1, 9, 10, 1024, 123457])
def test_block_round_trip(size):
    payload = bytes(np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8))
    block = encode_block(payload)
    digits = len(str(size))
    assert block[:2 + digits] == b"#" + str(digits).encode() + str(size).encode()
    assert decode_block(block + b"\n") == (payload, b"\n")
    assert block_header(block) == (2 + digits, size)


def test_block_header_waits_for_more_bytes_and_refuses_garbage():
    assert block_header(b"") is None and block_header(b"#") is None and block_header(b"#41") is None
    assert block_header(b"  #14abcd") == (5, 4)  # leading whitespace is allowed
    with pytest.raises(BlockFormatError, match="indefinite-length"):
        block_header(b"#0abc\n")
    with pytest.raises(BlockFormatError, match="number of length digits"):
        block_header(b"#X1234")
    with pytest.raises(BlockFormatError, match="not 3 decimal digits"):
        block_header(b"#31a0xyz")
    with pytest.raises(BlockFormatError, match="response headers off"):
        block_header(b":CURVE #14abcd")
    with pytest.raises(BlockFormatError, match="starting with '#'"):
        block_header(b"1.0,2.0,3.0")


def test_short_block_is_an_error_that_counts_the_bytes():
    block = encode_block(b"x" * 100)[:-30]
    with pytest.raises(BlockFormatError, match="declares 100 bytes but only 70 arrived"):
        decode_block(block)


@pytest.mark.parametrize("dtype,order", [("int16", "big"), ("int16", "little"), ("uint16", "big"), ("uint8", "big"),
                                         ("int8", "little"), ("float32", "little"), ("int32", "big")])
def test_pack_unpack(dtype, order):
    info = np.iinfo(dtype) if dtype.startswith(("int", "uint")) else None
    values = np.array([0, 1, 2, 100] + ([info.min, info.max] if info else [-1.5, 3.25]))
    raw = pack_values(values, dtype, order)
    assert raw == values.astype(np.dtype(dtype).newbyteorder({"big": ">", "little": "<"}[order])).tobytes()
    np.testing.assert_array_equal(unpack_values(raw, dtype, order), values.astype(np.float64))


def test_pack_refuses_codes_outside_the_dtype_and_unpack_a_ragged_payload():
    with pytest.raises(BlockFormatError, match="outside int16"):
        pack_values(np.array([0, 40000]), "int16")
    with pytest.raises(BlockFormatError, match="not a whole number of int16 values"):
        unpack_values(b"\x00\x01\x02", "int16")
    with pytest.raises(BlockFormatError, match="unknown block dtype"):
        unpack_values(b"", "complex64")


def test_code_maps_clip_round_and_invert():
    x = np.array([-2.0, -1.0, 0.0, 0.25, 1.0, 3.0])
    codes = to_codes(x, (-1.0, 1.0), (-32767, 32767), integer=True)
    np.testing.assert_array_equal(codes, [-32767, -32767, 0, 8192, 32767, 32767])
    np.testing.assert_allclose(from_codes(codes, (-1.0, 1.0), (-32767, 32767)), [-1, -1, 0, 8192 / 32767, 1, 1])
    # a reversed code range (e.g. an inverting driver) maps low values onto high codes
    np.testing.assert_array_equal(to_codes(np.array([0.0, 1.0]), (0.0, 1.0), (16383, 0), True), [16383, 0])


def test_ascii_lists():
    assert format_ascii(np.array([1.4, -2.6, 3]), integer=True) == "1,-3,3"
    assert format_ascii(np.array([0.5, -0.125]), integer=False, digits=3) == "0.5,-0.125"
    np.testing.assert_array_equal(parse_ascii("1.5E-1,-2,+3\n"), [0.15, -2, 3])
    with pytest.raises(BlockFormatError, match="is not a number"):
        parse_ascii(":CURVE 1,2,3")
    with pytest.raises(BlockFormatError, match="empty data reply"):
        parse_ascii("  \n")
    with pytest.raises(BlockFormatError, match="binary block"):
        parse_ascii("#14abcd")


@pytest.mark.parametrize("pattern,accepted,refused", [
    ("[SOURce<n>:]VOLTage[:AMPLitude]", ["VOLT", "volt", "SOUR1:VOLT", "SOURCE2:VOLTAGE:AMPLITUDE", ":VOLT:AMPL"],
     ["VOL", "VOLT:OFFS", "SOUR:VOLTA", "VOLT?"]),
    ("WFMOutpre:YOFf?", ["WFMO:YOFF?", "wfmoutpre:yof?", ":WFMO:YOF?"], ["WFMO:YOFF", "WFMO:YO?"]),
    ("*TRG", ["*TRG", "*trg"], ["TRG", "*TRGX"]),
    ("CH<n>:SCAle", ["CH1:SCA", "ch2:scale"], ["CH1:SC", "CHAN1:SCA"]),
])
def test_header_patterns_accept_short_and_long_forms(pattern, accepted, refused):
    rx = header_regex(pattern)
    assert all(rx.fullmatch(h) for h in accepted)
    assert not any(rx.fullmatch(h) for h in refused)


def test_messages_split_outside_strings_and_blocks():
    payload = b"a;b\n \"c'" + b" \n"  # separators, quotes and trailing whitespace inside a block
    block = encode_block(payload)
    msg = b"*CLS; DATA:DAT EMEM," + block + b' ;SYST:ERR?;DISP:TEXT "x;y"  '
    assert split_message(msg) == [b"*CLS", b"DATA:DAT EMEM," + block, b"SYST:ERR?", b'DISP:TEXT "x;y"']
    assert split_message(b"DATA:DAT EMEM," + block[:-2]) is None  # the block is still arriving
    assert split_command(b"SOUR1:VOLT 2.0") == ("SOUR1:VOLT", b"2.0")
    assert split_command(b"*TRG") == ("*TRG", b"")
