"""Golden byte transcripts of protocol v1: every message type and every error status.

Each recipe builds a board (a :class:`hwsim.server.Board` with a fixed clock) and a list of
request frames; the transcript is the request bytes and the board's reply bytes. The committed
files in ``tests/hwsim/golden/`` are normative for firmware authors; ``test_golden.py`` checks the
code still produces them byte for byte. Regenerate (after a deliberate protocol change only) with::

    python -m tests.hwsim.golden_transcripts
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from hwsim.device import Device
from hwsim.errors import DeviceError, TransientDeviceError
from hwsim.protocol.auth import host_proof
from hwsim.protocol.errors import FrameError
from hwsim.protocol.frame import FLAG_RETRANSMIT, Frame, decode_frame, encode_frame
from hwsim.protocol.messages import MsgType, encode_params, encode_samples
from hwsim.reference import ReferenceDevice
from hwsim.server import Board

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
X2 = np.array([[-1.0, -0.5, 0.0, 0.5, 1.0, 0.25, -0.25, 0.125] * 2,
               [0.9, -0.9, 0.3, -0.3, 0.7, -0.7, 0.1, -0.1] * 2], dtype=np.float32)


class FailingDevice(ReferenceDevice):
    """Reference device whose physical system fails on every measurement."""

    def _measure(self, x: np.ndarray) -> np.ndarray:
        raise DeviceError("photodetector read failed")


class BusyDevice(ReferenceDevice):
    """Reference device that is always still settling."""

    def _measure(self, x: np.ndarray) -> np.ndarray:
        raise TransientDeviceError("still settling, try again")


def board(device: Device, max_payload: int = 65536) -> Board:
    """A board with a fixed clock: power-on at t=0, every later reading at t=1.234 s."""
    clock = itertools.chain([0.0], itertools.repeat(1.234)).__next__
    return Board(device, max_payload=max_payload, clock=clock)


def measure(seq: int, x: np.ndarray, bits: int | None = 12) -> Frame:
    """A MEASURE request of batch ``x`` with the reference device's encoding."""
    return Frame(MsgType.MEASURE, seq, encode_samples(x, (-1.0, 1.0), bits))


def corrupt_crc(frame: Frame) -> bytes:
    """Wire bytes of ``frame`` with its CRC's lowest bit flipped (a malformed frame)."""
    from hwsim.protocol import cobs
    from hwsim.protocol.frame import frame_bytes

    raw = bytearray(frame_bytes(frame))
    raw[-4] ^= 0x01
    return cobs.encode(bytes(raw)) + b"\x00"


@dataclass(frozen=True)
class Recipe:
    """One golden file: what it shows, the board, the requests (frames or raw wire bytes), and how the
    board answers them (default: :meth:`Board.feed`; transport-level answers use another method)."""

    comment: str
    board: Callable[[], Board]
    requests: Callable[[], list[tuple[str, Frame | bytes]]]
    answer: Callable[[Board, bytes], bytes] = Board.feed


SECRET = b"golden-transcript-shared-secret!"
CHALLENGE = bytes(range(16))
NONCE = bytes(range(100, 116))


def _secret_board() -> Board:
    """The reference board with a shared secret and a fixed challenge."""
    clock = itertools.chain([0.0], itertools.repeat(1.234)).__next__
    return Board(ReferenceDevice(seed=0), clock=clock, secret=SECRET, challenge_source=lambda: CHALLENGE)


def _ref() -> Board:
    return board(ReferenceDevice(seed=0))


def _float_ref() -> Board:
    return board(ReferenceDevice(seed=0, dac_bits=None, adc_bits=None))


RECIPES: dict[str, Recipe] = {
    "hello": Recipe(
        "HELLO: empty request; the reply body is the capabilities JSON (reference device, seed 0). "
        "JSON formatting and key order are free; this board sends compact JSON with sorted keys.",
        _ref, lambda: [("HELLO seq=1", Frame(MsgType.HELLO, 1))]),
    "measure_codes": Recipe(
        "MEASURE with 12-bit DAC/ADC codes (u16 little-endian): u32 n=2, then 2 x 16 input codes; "
        "the reply holds u32 n=2 and 2 x 16 ADC codes of tanh(x @ W), W from seed 0.",
        _ref, lambda: [("MEASURE seq=2, 2 samples", measure(2, X2))]),
    "measure_float": Recipe(
        "MEASURE on a board without converters (dac_bits = adc_bits = null): samples are float32.",
        _float_ref, lambda: [("MEASURE seq=3, 2 float32 samples", measure(3, X2, None))]),
    "set_get_params": Recipe(
        "SET_PARAMS gain = 0.5 (16 values; empty OK reply), then GET_PARAMS returns the block.",
        _ref, lambda: [("SET_PARAMS seq=4 gain=[0.5]*16", Frame(MsgType.SET_PARAMS, 4,
                                                                  encode_params({"gain": np.full(16, 0.5)}))),
                       ("GET_PARAMS seq=5", Frame(MsgType.GET_PARAMS, 5))]),
    "ping": Recipe(
        "PING with 4 bytes: reply is u32 uptime_ms (1234 here; a real board's differs), u32 measurement "
        "count (0), then the echoed bytes.",
        _ref, lambda: [("PING seq=6 'abcd'", Frame(MsgType.PING, 6, b"abcd"))]),
    "ping_long": Recipe(
        "PING with 300 non-zero bytes: shows COBS 0xFF blocks (runs of 254 non-zero bytes).",
        _ref, lambda: [("PING seq=7, bytes 1..255,1..45", Frame(MsgType.PING, 7, bytes((i % 255) + 1
                                                                                        for i in range(300))))]),
    "retransmit": Recipe(
        "A MEASURE, then the same request with the RETRANSMIT flag (0x02) as if the reply was lost: the "
        "board answers from its reply cache without measuring again; the PING shows 2 measurements, not 4.",
        _ref, lambda: [("MEASURE seq=8", measure(8, X2)),
                       ("MEASURE seq=8 RETRANSMIT", replace(measure(8, X2), flags=FLAG_RETRANSMIT)),
                       ("PING seq=9", Frame(MsgType.PING, 9))]),
    "malformed_dropped": Recipe(
        "A MEASURE whose CRC is wrong is dropped silently (no reply: '<' alone); the resent good frame is "
        "answered.",
        _ref, lambda: [("MEASURE seq=10, CRC corrupted", corrupt_crc(measure(10, X2[:1]))),
                       ("MEASURE seq=10 RETRANSMIT", replace(measure(10, X2[:1]), flags=FLAG_RETRANSMIT))]),
    "err_frame": Recipe(
        "ERR_FRAME (1): a MEASURE body that declares 3 samples but holds 1.",
        _ref, lambda: [("MEASURE seq=11, n=3 but one sample", Frame(MsgType.MEASURE, 11,
                                                                     b"\x03\x00\x00\x00" +
                                                                     encode_samples(X2[:1], (-1, 1), 12)[4:]))]),
    "err_version": Recipe(
        "ERR_VERSION (2): a HELLO with protocol version 2; the reply is a version-1 frame.",
        _ref, lambda: [("HELLO seq=12 version=2", Frame(MsgType.HELLO, 12, version=2))]),
    "err_type": Recipe(
        "ERR_TYPE (3): message type 0x09 does not exist.",
        _ref, lambda: [("type 0x09 seq=13", Frame(0x09, 13))]),
    "err_request": Recipe(
        "ERR_REQUEST (4): SET_PARAMS of an unknown parameter 'phase' (nothing changes).",
        _ref, lambda: [("SET_PARAMS seq=14 phase=[1.0]", Frame(MsgType.SET_PARAMS, 14,
                                                               encode_params({"phase": np.ones(1)})))]),
    "err_device": Recipe(
        "ERR_DEVICE (5): the physical system failed while measuring.",
        lambda: board(FailingDevice(seed=0)), lambda: [("MEASURE seq=15", measure(15, X2))]),
    "err_interlock": Recipe(
        "ERR_INTERLOCK (6): a float32 input of 1.5 exceeds limits.max_abs_input = 1.0; nothing is driven. "
        "The host never retries this.",
        _float_ref, lambda: [("MEASURE seq=16, x[0,0]=1.5", measure(16, np.where(np.arange(16) == 0, 1.5,
                                                                                  X2[:1]).astype(np.float32),
                                                                         None))]),
    "err_busy": Recipe(
        "ERR_BUSY (7): the device is settling; the host retries like a timeout. BUSY replies are not cached.",
        lambda: board(BusyDevice(seed=0)), lambda: [("MEASURE seq=17", measure(17, X2[:1]))]),
    "err_too_large": Recipe(
        "ERR_TOO_LARGE (8): a 100-byte MEASURE body sent to a board whose max_payload is 64.",
        lambda: board(ReferenceDevice(seed=0), max_payload=64), lambda: [("MEASURE seq=18, 3 samples",
                                                                          measure(18, np.zeros((3, 16))))]),
    "err_locked": Recipe(
        "ERR_LOCKED (9): a TCP board serving one host at a time answers another host's first request (here "
        "HELLO) with 'board busy: another host holds it' and closes that connection. Serial firmware never "
        "sends it.",
        _ref, lambda: [("HELLO seq=1 from a second host", Frame(MsgType.HELLO, 1))],
        lambda b, wire: b.locked_reply(decode_frame(wire), 12.0)),
    "err_idle": Recipe(
        "ERR_IDLE (11): unsolicited (no request: '>' is empty; type 0, seq 0): a TCP board sends it to a host "
        "that stayed silent for its idle timeout (30 s here), then closes the connection. Serial firmware "
        "never sends it.",
        _ref, lambda: [("nothing: the host stayed silent", b"")], lambda b, wire: b.idle_notice(30.0)),
    "auth": Recipe(
        "AUTH (type 0x06) and ERR_AUTH (10), on a board with a shared secret (here "
        f"{SECRET.decode()!r}, challenge bytes 0..15, host nonce bytes 100..115): HELLO declares "
        "auth = {scheme hmac-sha256, challenge}; a MEASURE before AUTH gets ERR_AUTH; AUTH carries the nonce "
        "and HMAC-SHA256(secret, 'hwsim-auth-host' 0x00 | challenge | nonce); its OK reply is "
        "HMAC-SHA256(secret, 'hwsim-auth-board' 0x00 | challenge | nonce); then MEASURE is answered.",
        _secret_board, lambda: [("HELLO seq=20", Frame(MsgType.HELLO, 20)),
                                ("MEASURE seq=21 before AUTH", measure(21, X2[:1])),
                                ("AUTH seq=22", Frame(MsgType.AUTH, 22, host_proof(SECRET, CHALLENGE, NONCE))),
                                ("MEASURE seq=23", measure(23, X2[:1]))]),
}
# transcripts of what only a TCP board or a board with a shared secret sends (the C99 core is neither)
SERIAL_FIRMWARE_EXEMPT = ("err_locked", "err_idle", "auth")


def describe(wire: bytes) -> str:
    """One comment line decoding a frame's header, for readers of the golden files."""
    f = decode_frame(wire)
    return (f"version={f.version} type=0x{f.type:02x} flags=0x{f.flags:02x} status={f.status} seq={f.seq} "
            f"length={len(f.body)}")


def transcript(name: str) -> list[tuple[str, bytes, bytes]]:
    """(label, request wire bytes, reply wire bytes) for each request of recipe ``name``."""
    recipe = RECIPES[name]
    board_ = recipe.board()
    out = []
    for label, req in recipe.requests():
        wire = req if isinstance(req, bytes) else encode_frame(req)
        out.append((label, wire, recipe.answer(board_, wire)))
    return out


def render(name: str) -> str:
    """The text of ``golden/<name>.hex``."""
    lines = [f"# {RECIPES[name].comment}",
             "# '>' host to board, '<' board to host: hex of the bytes on the wire (COBS frame + 0x00)."]
    for label, req, rep in transcript(name):
        try:
            head = describe(req) if req else "none: the board sends the reply on its own"
        except FrameError:  # the malformed example cannot be decoded, which is its point
            head = "malformed"
        lines += [f"# request: {label} [{head}]", f"> {req.hex()}"]
        lines += [f"# reply: [{describe(rep)}]" if rep else "# reply: none", f"< {rep.hex()}".rstrip()]
    return "\n".join(lines) + "\n"


def parse(text: str) -> list[tuple[bytes, bytes]]:
    """(request, reply) byte pairs from the text of a golden file."""
    pairs, request = [], None
    for line in text.splitlines():
        if line.startswith(">"):
            request = bytes.fromhex(line[1:].strip())
        elif line.startswith("<"):
            assert request is not None, "a '<' line must follow a '>' line"
            pairs.append((request, bytes.fromhex(line[1:].strip())))
            request = None
    return pairs


def write_all(folder: Path = GOLDEN_DIR) -> list[Path]:
    """(Re)write every golden file; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in RECIPES:
        path = folder / f"{name}.hex"
        path.write_text(render(name))
        paths.append(path)
    return paths


if __name__ == "__main__":
    for p in write_all():
        print(p)
