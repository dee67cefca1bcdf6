"""Frames of protocol v1: ``COBS(header | body | crc32) 0x00`` (see docs/protocol.md)."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Callable

from hwsim.protocol import cobs
from hwsim.protocol.errors import FrameError

VERSION = 1
HEADER = struct.Struct("<BBBBHI")  # version, type, flags, status, seq, length
HEADER_SIZE = HEADER.size
CRC = struct.Struct("<I")
CRC_SIZE = CRC.size
DELIMITER = b"\x00"

FLAG_RESPONSE = 0x01
FLAG_RETRANSMIT = 0x02


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame. ``body`` is the raw message body; ``status`` is 0 in requests."""

    type: int
    seq: int
    body: bytes = b""
    flags: int = 0
    status: int = 0
    version: int = VERSION

    @property
    def is_response(self) -> bool:
        """True when the board sent this frame."""
        return bool(self.flags & FLAG_RESPONSE)

    @property
    def is_retransmit(self) -> bool:
        """True when the host resent an unanswered request."""
        return bool(self.flags & FLAG_RETRANSMIT)


def frame_bytes(frame: Frame) -> bytes:
    """Header, body and CRC of ``frame`` before COBS (what the CRC protects)."""
    head = HEADER.pack(frame.version & 0xFF, frame.type & 0xFF, frame.flags & 0xFF, frame.status & 0xFF,
                       frame.seq & 0xFFFF, len(frame.body))
    crc = zlib.crc32(frame.body, zlib.crc32(head))
    return head + frame.body + CRC.pack(crc)


def encode_frame(frame: Frame) -> bytes:
    """Wire bytes of ``frame``: COBS-encoded header, body and CRC, then the 0x00 delimiter."""
    return cobs.encode(frame_bytes(frame)) + DELIMITER


def decode_frame(data: bytes) -> Frame:
    """Decode one frame from its COBS bytes (with or without the trailing delimiter).

    Raises :class:`FrameError` for anything malformed: bad COBS, short frame, length mismatch, bad CRC.
    A well-formed frame of another protocol version is returned as is; the caller decides.
    """
    if data.endswith(DELIMITER):
        data = data[:-1]
    raw = cobs.decode(data)
    if len(raw) < HEADER_SIZE + CRC_SIZE:
        raise FrameError(f"frame of {len(raw)} bytes is shorter than header and CRC ({HEADER_SIZE + CRC_SIZE})")
    version, mtype, flags, status, seq, length = HEADER.unpack_from(raw)
    if HEADER_SIZE + length + CRC_SIZE != len(raw):
        raise FrameError(f"frame header says body of {length} bytes but the frame holds "
                         f"{len(raw) - HEADER_SIZE - CRC_SIZE}")
    (crc,) = CRC.unpack_from(raw, len(raw) - CRC_SIZE)
    if zlib.crc32(memoryview(raw)[:-CRC_SIZE]) != crc:
        raise FrameError("frame CRC-32 does not match its contents (corrupted on the line)")
    return Frame(type=mtype, seq=seq, body=raw[HEADER_SIZE:HEADER_SIZE + length], flags=flags, status=status,
                 version=version)


def encoded_size(body_len: int) -> int:
    """Upper bound of the wire size of a frame whose body has ``body_len`` bytes (COBS worst case)."""
    raw = HEADER_SIZE + body_len + CRC_SIZE
    return raw + raw // 254 + 2


class FrameReader:
    """Streaming decoder: feed arbitrary chunks of the byte stream, get frames and errors out.

    Every 0x00 ends a frame; empty frames (repeated delimiters) are skipped. Bytes beyond
    ``max_frame`` without a delimiter are discarded and reported once as a :class:`FrameError`;
    reading resumes after the next delimiter. ``mangle`` (fault injection) may alter each raw
    frame before it is decoded.
    """

    def __init__(self, max_frame: int = 1 << 20, mangle: Callable[[bytes], bytes] | None = None) -> None:
        self.max_frame = int(max_frame)
        self.mangle = mangle
        self._buf = bytearray()
        self._overflow = False

    def feed(self, chunk: bytes) -> list[Frame | FrameError]:
        """Consume ``chunk``; return the frames (or errors for malformed ones) it completed, in order."""
        out: list[Frame | FrameError] = []
        if not chunk:
            return out
        start = 0
        while True:
            end = chunk.find(0, start)
            if end < 0:
                break
            self._finish(bytes(chunk[start:end]), out)
            start = end + 1
        tail = chunk[start:]
        if tail:
            if self._overflow:
                return out
            self._buf += tail
            if len(self._buf) > self.max_frame:
                self._buf.clear()
                self._overflow = True
                out.append(FrameError(f"more than {self.max_frame} bytes without a frame delimiter; discarded"))
        return out

    def _finish(self, piece: bytes, out: list[Frame | FrameError]) -> None:
        if self._overflow:
            self._overflow = False
            self._buf.clear()
            return
        if self._buf:
            piece = bytes(self._buf) + piece
            self._buf.clear()
        if len(piece) > self.max_frame:
            out.append(FrameError(f"frame of {len(piece)} bytes exceeds the {self.max_frame}-byte buffer; discarded"))
            return
        if self.mangle is not None:
            piece = self.mangle(piece)
        if not piece:
            return
        try:
            out.append(decode_frame(piece))
        except FrameError as exc:
            out.append(exc)

    @property
    def pending(self) -> int:
        """Bytes of an unfinished frame held in the buffer."""
        return len(self._buf)

    def reset(self) -> None:
        """Forget any partial frame (after a reconnect)."""
        self._buf.clear()
        self._overflow = False
