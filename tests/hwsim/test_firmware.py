"""The C99 reference firmware (examples/firmware) against the Python host: one protocol, two implementations.

The core, the pty board and the selftest are built with the host C compiler (under ASan/UBSan when
the compiler supports them); the C board is then driven through :class:`hwsim.remote.RemoteDevice`,
with raw frames, and with the golden transcripts of ``tests/hwsim/golden/``.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import struct
import subprocess
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pytest
import serial

from hwsim.protocol import cobs
from hwsim.protocol.errors import FrameError, InterlockError
from hwsim.protocol.frame import (FLAG_RESPONSE, FLAG_RETRANSMIT, Frame, FrameReader, decode_frame, encode_frame,
                                  frame_bytes)
from hwsim.protocol.hello import decode_hello, info_from_capabilities
from hwsim.protocol.messages import (MsgType, Status, decode_params, decode_ping_reply, decode_samples, encode_params,
                                     encode_samples)
from hwsim.quantise import quantise, to_codes
from hwsim.reference import ReferenceDevice
from hwsim.remote import RemoteDevice
from tests.hwsim.golden_transcripts import SERIAL_FIRMWARE_EXEMPT

ROOT = Path(__file__).resolve().parents[2]
FW = ROOT / "examples" / "firmware"
GOLDEN = Path(__file__).resolve().parent / "golden"
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-ffp-contract=off"]
MAX_PAYLOAD = 8192
HOST_SIZES = [f"-DHWSIM_FW_MAX_PAYLOAD={MAX_PAYLOAD}", "-DHWSIM_FW_MAX_IN=64", "-DHWSIM_FW_MAX_OUT=64"]
SANITIZERS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g", "-O0"]
RUN_ENV = {**os.environ, "ASAN_OPTIONS": "detect_leaks=0", "UBSAN_OPTIONS": "print_stacktrace=1"}


# -- building ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Build:
    cc: str
    out: Path
    sanitized: bool
    board: Path
    selftest: Path
    selftest_bitwise: Path


def _find(*names: str | None) -> str | None:
    for name in names:
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _compile(cmd: list[str]) -> None:
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if res.returncode != 0:
        pytest.fail(f"compiling failed: {' '.join(cmd)}\n{res.stdout}{res.stderr}")


def _sanitizers_work(cc: str, out: Path) -> bool:
    src, exe = out / "probe.c", out / "probe"
    src.write_text("int main(void) { return 0; }\n")
    res = subprocess.run([cc, *SANITIZERS, str(src), "-o", str(exe)], capture_output=True)
    return res.returncode == 0 and subprocess.run([str(exe)], env=RUN_ENV, capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    """Core + pty board + selftest, built with the strict C99 flags of the Makefile."""
    cc = _find(os.environ.get("CC"), "cc", "gcc", "clang")
    if cc is None:
        pytest.skip("no C compiler (cc, gcc or clang) on PATH: the C99 firmware cannot be built and checked here")
    out = tmp_path_factory.mktemp("firmware")
    sanitized = _sanitizers_work(cc, out)
    opt = SANITIZERS if sanitized else ["-O2"]
    core, host = str(FW / "hwsim_fw.c"), FW / "host"
    jobs = {
        "pty_board": [cc, *STRICT, *opt, *HOST_SIZES, core, str(host / "pty_board.c"), "-lm"],
        "selftest": [cc, *STRICT, *opt, core, str(host / "selftest.c")],
        "selftest_bitwise": [cc, *STRICT, "-O2", "-DHWSIM_FW_CRC_TABLE=0", *HOST_SIZES, core,
                             str(host / "selftest.c")],
    }
    procs = {name: subprocess.Popen([*cmd, "-o", str(out / name)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True) for name, cmd in jobs.items()}
    for name, proc in procs.items():
        log, _ = proc.communicate(timeout=300)
        if proc.returncode != 0:
            pytest.fail(f"compiling {name} failed: {' '.join(jobs[name])}\n{log}")
    return Build(cc, out, sanitized, out / "pty_board", out / "selftest", out / "selftest_bitwise")


# -- the C board as a child process ------------------------------------------------------------------
class CBoard:
    """``pty_board`` serving ``ReferenceDevice``'s weights; :meth:`stop` returns its counters."""

    def __init__(self, build: Build, folder: Path, ref: ReferenceDevice, *options: str) -> None:
        weights = folder / f"weights-{id(self)}.bin"
        w = np.asarray(ref.weight)
        weights.write_bytes(struct.pack("<II", *w.shape) + w.astype("<f8").tobytes())
        cmd = [str(build.board), str(weights), "--schema-hash", ref.info.schema_hash(), "--exit-on-stdin-eof",
               *options]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=RUN_ENV)
        ready, _, _ = select.select([self.proc.stdout], [], [], 30.0)
        line = self.proc.stdout.readline().decode().strip() if ready else ""  # type: ignore[union-attr]
        if not line:
            self.proc.kill()
            pytest.fail(f"pty_board printed no port: {self.proc.stderr.read().decode()}")  # type: ignore[union-attr]
        self.path = line

    def stop(self) -> dict[str, int]:
        """Close its stdin (it exits), check it exited cleanly (no sanitizer report), return its counters."""
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            rc = self.proc.wait(20.0)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail("pty_board did not exit after its stdin closed")
        err = self.proc.stderr.read().decode() if self.proc.stderr else ""
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        assert rc == 0, f"pty_board exited with {rc}:\n{err}"
        assert "runtime error" not in err and "Sanitizer" not in err, err
        m = re.search(r"handled (\d+), dropped (\d+), cache_hits (\d+), measurements (\d+)", err)
        assert m, err
        return dict(zip(("handled", "dropped", "cache_hits", "measurements"), map(int, m.groups())))


@pytest.fixture
def boards(build: Build, tmp_path: Path) -> Iterator[Callable[..., CBoard]]:
    """Factory ``boards(ref, *options)``: a running C board; every one is stopped and checked afterwards."""
    started: list[CBoard] = []

    def start(ref: ReferenceDevice, *options: str) -> CBoard:
        b = CBoard(build, tmp_path, ref, *options)
        started.append(b)
        return b

    yield start
    for b in started:
        if b.proc.returncode is None:
            b.stop()


class RawLink:
    """Frames by hand over the board's pty: for retransmissions, errors and malformed bytes."""

    def __init__(self, path: str) -> None:
        self.ser = serial.Serial(path, timeout=0.02)
        self.ser.reset_input_buffer()
        self.seq = 100

    def send(self, wire: bytes) -> None:
        self.ser.write(wire)
        self.ser.flush()

    def exchange(self, wire: bytes, timeout: float = 5.0) -> bytes:
        """Send ``wire``; return the raw bytes of the one reply (up to and including its 0x00)."""
        self.send(wire)
        buf = bytearray()
        deadline = time.monotonic() + timeout
        while b"\x00" not in buf and time.monotonic() < deadline:
            buf += self.ser.read(max(1, self.ser.in_waiting))
        assert b"\x00" in buf, f"no reply within {timeout} s to {wire.hex()}"
        end = buf.index(0) + 1
        assert not buf[end:], f"extra bytes after one reply: {bytes(buf[end:]).hex()}"
        return bytes(buf[:end])

    def request(self, mtype: int, body: bytes = b"", seq: int | None = None, **fields: int) -> Frame:
        """Send one request frame; return the decoded reply after checking it answers this request."""
        if seq is None:
            self.seq += 1
            seq = self.seq
        reply = decode_frame(self.exchange(encode_frame(Frame(type=mtype, seq=seq, body=body, **fields))))
        assert reply.is_response and reply.seq == seq and reply.type == mtype and reply.version == 1
        return reply

    def silence(self, seconds: float = 0.4) -> bytes:
        """Whatever arrives within ``seconds`` (expected: nothing)."""
        buf = bytearray()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            buf += self.ser.read(max(1, self.ser.in_waiting))
        return bytes(buf)

    def measurements(self) -> int:
        """The board's measurement counter, from a PING."""
        reply = self.request(MsgType.PING)
        assert reply.status == Status.OK
        return decode_ping_reply(reply.body)[1]

    def close(self) -> None:
        self.ser.close()


def expected(ref: ReferenceDevice, x: np.ndarray) -> np.ndarray:
    """What a board serving ``ref`` must return: the ideal profile, 12-bit DAC and ADC quantisation."""
    i = ref.info
    return quantise(ref.measure(quantise(x, i.input_range, i.dac_bits)), i.output_range, i.adc_bits)


# -- the C unit tests -------------------------------------------------------------------------------------
def test_c_selftest_passes_with_sanitizers_and_with_the_bitwise_crc(build: Build) -> None:
    for exe, crc in ((build.selftest, "table"), (build.selftest_bitwise, "bitwise")):
        res = subprocess.run([str(exe)], capture_output=True, text=True, env=RUN_ENV, timeout=120)
        assert res.returncode == 0, res.stdout + res.stderr
        assert f"selftest: ok (CRC {crc})" in res.stdout
        assert "runtime error" not in res.stderr


def test_c_cobs_and_crc_agree_with_the_python_protocol_byte_for_byte(build: Build) -> None:
    rng = np.random.default_rng(0)
    runs = bytes(i % 255 + 1 for i in range(1100))
    vectors = [b"", b"\x00", b"\x00\x00", b"\x11\x22\x00\x33", runs[:253], runs[:254], runs[:255],
               runs[:254] + b"\x00", runs[:508], runs[:509], runs[:1100], bytes(300), b"123456789"]
    for _ in range(200):
        n = int(rng.integers(0, 1100))
        data = rng.integers(1, 256, n, dtype=np.uint8)
        data[rng.random(n) < rng.choice([0.0, 0.002, 0.05, 0.5])] = 0
        vectors.append(data.tobytes())
    res = subprocess.run([str(build.selftest), "--vectors"], input="\n".join(v.hex() for v in vectors) + "\n",
                         capture_output=True, text=True, env=RUN_ENV, timeout=60)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) == len(vectors)
    for data, line in zip(vectors, lines):
        enc, crc = line.split(" ")
        assert bytes.fromhex(enc) == cobs.encode(data), data.hex()
        assert int(crc, 16) == zlib.crc32(data)
    assert lines[12].endswith(" cbf43926")  # the spec's check value, CRC-32 of "123456789"


# -- the C board against the Python host -----------------------------------------------------------------
@pytest.mark.parametrize("n_in, n_out, seed", [(16, 16, 0), (5, 12, 3)])
def test_remote_measure_over_the_c_board_equals_the_in_process_reference(boards, n_in, n_out, seed) -> None:
    ref = ReferenceDevice(n_in=n_in, n_out=n_out, seed=seed)
    board = boards(ref)
    rng = np.random.default_rng(seed)
    lsb = 2.0 / 4095
    batches = [
        rng.normal(0.0, 0.6, (600, n_in)),                      # more than max_batch: several frames
        rng.uniform(-1.6, 1.6, (257, n_in)),                    # beyond full scale: the DAC clips
        np.array([[-1.0] * n_in, [1.0] * n_in, [0.0] * n_in, [1e6] * n_in, [-1e6] * n_in]),
        -1.0 + (rng.integers(0, 4095, (64, n_in)) + 0.5) * lsb,  # half-way between two codes
    ]
    try:
        from hwsim.nonideal import apply_profile
        twin = apply_profile(ref, "ideal")
    except ImportError:  # the non-ideality package is optional here; the explicit formula still checks
        twin = None
    total = 0
    with RemoteDevice(board.path, timeout=2.0) as dev:
        assert dev.info.schema_hash() == ref.info.schema_hash()
        assert dev.capabilities["firmware_version"].startswith("hwsim-c99/")
        assert dev.info.max_batch < 600 and dev.max_payload == MAX_PAYLOAD
        for gain in (None, rng.uniform(0.3, 4.0, n_out).astype(np.float32)):
            if gain is not None:  # a steep tanh: outputs saturate at the ADC's full scale
                dev.set_params({"gain": gain})
                ref.set_params({"gain": gain})
            for x in batches:
                x = x.astype(np.float32)
                want = expected(ref, x)
                got = dev.measure(x)
                assert got.dtype == np.float32
                np.testing.assert_array_equal(got, want)
                if twin is not None:
                    np.testing.assert_array_equal(twin.measure(x), want)
                total += len(x)
        assert np.any(np.abs(want) == 1.0)  # the saturated case was reached
        assert dev.ping().measurements == total
    assert board.stop()["measurements"] == total


def test_set_and_get_params_round_trip_and_refusals_change_nothing(boards) -> None:
    ref = ReferenceDevice(seed=1)
    board = boards(ref)
    g = np.random.default_rng(1).uniform(-3, 3, 16).astype(np.float32)
    g[:6] = [0.0, -0.0, 1e-40, 3.4e38, 1 / 3, -2.5]  # subnormal, huge, inexact, signed zero
    with RemoteDevice(board.path, timeout=2.0) as dev:
        np.testing.assert_array_equal(dev.get_params()["gain"], np.ones(16, np.float32))  # power-on
        dev.set_params({"gain": g})
        assert dev.get_params()["gain"].tobytes() == g.tobytes()  # bit for bit, -0.0 included
    link = RawLink(board.path)
    refused = {
        "unknown name": (encode_params({"phase": np.ones(16)}), Status.ERR_REQUEST),
        "wrong count": (encode_params({"gain": np.ones(15)}), Status.ERR_REQUEST),
        "one good, one unknown": (encode_params({"gain": np.ones(16), "phase": np.ones(1)}), Status.ERR_REQUEST),
        "truncated": (encode_params({"gain": np.ones(16)})[:-1], Status.ERR_FRAME),
        "trailing byte": (encode_params({"gain": np.ones(16)}) + b"\x00", Status.ERR_FRAME),
    }
    for what, (body, status) in refused.items():
        reply = link.request(MsgType.SET_PARAMS, body)
        assert reply.status == status, what
        assert reply.body.decode("utf-8").strip(), what
    block = decode_params(link.request(MsgType.GET_PARAMS).body)
    assert list(block) == ["gain"] and block["gain"].tobytes() == g.tobytes()
    link.close()


def test_a_retransmitted_measure_is_answered_from_the_cache_without_measuring(boards) -> None:
    board = boards(ReferenceDevice(seed=2))
    link = RawLink(board.path)
    body = encode_samples(np.random.default_rng(2).uniform(-1, 1, (5, 16)), (-1.0, 1.0), 12)
    assert link.measurements() == 0
    first = link.exchange(encode_frame(Frame(MsgType.MEASURE, 10, body)))
    again = link.exchange(encode_frame(Frame(MsgType.MEASURE, 10, body, flags=FLAG_RETRANSMIT)))
    assert again == first and decode_frame(first).status == Status.OK
    assert link.measurements() == 5  # not 10
    link.exchange(encode_frame(Frame(MsgType.MEASURE, 12, body)))  # a new seq is a new request
    assert link.measurements() == 10
    link.close()
    stats = board.stop()
    assert stats["cache_hits"] == 1 and stats["measurements"] == 10


def test_malformed_frames_are_dropped_silently_and_the_board_keeps_serving(boards) -> None:
    board = boards(ReferenceDevice(seed=0))
    link = RawLink(board.path)
    good = frame_bytes(Frame(MsgType.PING, 5, b"abc"))
    wrong_length = bytearray(good[:-4])
    wrong_length[6] += 1
    wrong_length += struct.pack("<I", zlib.crc32(bytes(wrong_length)))
    noise = np.random.default_rng(0).integers(1, 256, 200, dtype=np.uint8).tobytes()
    malformed = {
        "bad CRC": cobs.encode(good[:-1] + bytes([good[-1] ^ 0x01])) + b"\x00",
        "shorter than 14 bytes": cobs.encode(good[:13]) + b"\x00",
        "length field disagrees": cobs.encode(bytes(wrong_length)) + b"\x00",
        "truncated COBS block": b"\x05\x01\x02\x00",
        "line noise": noise + b"\x00",
        "a response frame": encode_frame(Frame(MsgType.PING, 6, flags=FLAG_RESPONSE)),
    }
    link.send(b"".join(malformed.values()) + b"\x00\x00")  # idle delimiters are not frames
    assert link.silence() == b""
    # still serving, also a request trickling in byte by byte
    wire = encode_frame(Frame(MsgType.PING, 7, b"still here"))
    for i in range(len(wire) - 1):
        link.send(wire[i:i + 1])
    assert link.silence(0.1) == b""
    link.send(wire[-1:])
    reply = decode_frame(link.exchange(b""))
    assert reply.seq == 7 and decode_ping_reply(reply.body)[2] == b"still here"
    link.close()
    stats = board.stop()
    assert stats["dropped"] == len(malformed) and stats["handled"] == 1


def test_error_statuses_come_back_as_specified(boards) -> None:
    ref = ReferenceDevice(n_in=4, n_out=16, seed=4)  # max_batch is set by the larger output side
    board = boards(ref, "--interlock-above", "0.9")
    link = RawLink(board.path)
    caps = decode_hello(link.request(MsgType.HELLO).body)
    max_batch = caps["max_batch"]
    assert caps["max_payload"] == MAX_PAYLOAD and max_batch == (MAX_PAYLOAD - 4) // 32

    def samples(x: np.ndarray) -> bytes:
        return encode_samples(np.asarray(x, np.float32), (-1.0, 1.0), 12)

    interlocked = np.zeros((3, 4))
    interlocked[2, 1] = 0.95
    over_scale = bytearray(samples(np.zeros((2, 4))))
    over_scale[6:8] = struct.pack("<H", 4096)
    cases = [
        ("unknown type", dict(mtype=0x7F), Status.ERR_TYPE),
        ("version 2", dict(mtype=MsgType.PING, version=2), Status.ERR_VERSION),
        ("no count", dict(mtype=MsgType.MEASURE, body=b"\x01\x00"), Status.ERR_FRAME),
        ("count 3, two samples", dict(mtype=MsgType.MEASURE, body=b"\x03\x00\x00\x00" + samples(np.zeros((2, 4)))[4:]),
         Status.ERR_FRAME),
        ("batch over max_batch", dict(mtype=MsgType.MEASURE, body=samples(np.zeros((max_batch + 1, 4)))),
         Status.ERR_REQUEST),
        ("code beyond 12 bits", dict(mtype=MsgType.MEASURE, body=bytes(over_scale)), Status.ERR_REQUEST),
        ("interlock", dict(mtype=MsgType.MEASURE, body=samples(interlocked)), Status.ERR_INTERLOCK),
        ("PING over max_payload", dict(mtype=MsgType.PING, body=bytes(MAX_PAYLOAD + 1)), Status.ERR_TOO_LARGE),
        ("MEASURE over max_payload", dict(mtype=MsgType.MEASURE, body=samples(np.zeros((1100, 4)))),
         Status.ERR_TOO_LARGE),
    ]
    for what, fields, status in cases:
        fields = dict(fields)
        wire = encode_frame(Frame(type=fields.pop("mtype"), seq=link.seq + 1, **fields))
        link.seq += 1
        reply = decode_frame(link.exchange(wire))
        assert (reply.status, reply.seq, reply.flags, reply.version) == (status, link.seq, FLAG_RESPONSE, 1), what
        assert reply.body.decode("utf-8").strip(), what
    assert link.measurements() == 0  # no refused request measured anything
    link.close()
    with RemoteDevice(board.path, timeout=2.0) as dev:
        with pytest.raises(InterlockError, match="ERR_INTERLOCK"):
            dev.measure(interlocked)
        # never retried: every resend (if any) answered a lost or late reply, none the interlock error
        assert dev.stats["retransmits"] == dev.stats["timeouts"] + dev.stats["bad_replies"]
        np.testing.assert_array_equal(dev.measure(np.full((2, 4), 0.5)), expected(ref, np.full((2, 4), 0.5)))
        assert dev.ping().measurements == 2


# -- golden transcripts -----------------------------------------------------------------------------------
# board options that make the C board the board each golden file was recorded with
GOLDEN_BOARDS: dict[str, tuple[dict[str, object], tuple[str, ...]]] = {
    "measure_float": (dict(dac_bits=None, adc_bits=None), ("--float-io",)),
    "err_interlock": (dict(dac_bits=None, adc_bits=None), ("--float-io",)),
    "err_device": ({}, ("--fail-measure", str(int(Status.ERR_DEVICE)))),
    "err_busy": ({}, ("--fail-measure", str(int(Status.ERR_BUSY)))),
    "err_too_large": ({}, ("--max-payload", "64")),
}


def _golden_pairs(path: Path) -> list[tuple[bytes, bytes]]:
    pairs, request = [], None
    for line in path.read_text().splitlines():
        if line.startswith(">"):
            request = bytes.fromhex(line[1:].strip())
        elif line.startswith("<"):
            assert request is not None, f"{path.name}: a '<' line must follow a '>' line"
            pairs.append((request, bytes.fromhex(line[1:].strip())))
            request = None
    return pairs


# what only a TCP board or a board with a shared secret sends is not the C99 core's to replay
GOLDEN_FILES = sorted(p for p in GOLDEN.glob("*.hex") if p.stem not in SERIAL_FIRMWARE_EXEMPT)


def _same_board_answer(name: str, want: bytes, got: bytes) -> None:
    """Byte-exact where the answer is deterministic; HELLO by meaning, error texts and uptime are free."""
    w, g = decode_frame(want), decode_frame(got)
    head = ("version", "type", "flags", "status", "seq")
    assert [getattr(g, k) for k in head] == [getattr(w, k) for k in head], f"{name}: {w} vs {g}"
    if w.status != Status.OK:
        assert g.body.decode("utf-8").strip(), f"{name}: error reply without a message"
    elif w.type == MsgType.HELLO:
        wc, gc = decode_hello(w.body), decode_hello(g.body)
        assert gc["schema_hash"] == wc["schema_hash"] == info_from_capabilities(gc).schema_hash()
        for key in ("protocol", "name", "input_shape", "output_shape", "input_range", "output_range", "dac_bits",
                    "adc_bits", "dtype", "params", "limits"):
            assert gc[key] == wc[key], f"{name}: HELLO field {key}"
    elif w.type == MsgType.PING:  # uptime differs by nature; the rest is exact
        assert g.body[4:] == w.body[4:], name
    else:
        assert got == want, f"{name}: reply bytes differ\n  golden {want.hex()}\n  C      {got.hex()}"


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=[p.stem for p in GOLDEN_FILES])
def test_golden_transcripts_replay_on_the_c_board(boards, path: Path) -> None:
    device_kwargs, options = GOLDEN_BOARDS.get(path.stem, ({}, ()))
    board = boards(ReferenceDevice(seed=0, **device_kwargs), *options)  # type: ignore[arg-type]
    link = RawLink(board.path)
    pairs = _golden_pairs(path)
    assert pairs, f"{path.name} holds no request"
    for request, reply in pairs:
        if not reply:
            link.send(request)
            assert link.silence(0.3) == b"", f"{path.stem}: the board answered a frame it must drop"
        else:
            _same_board_answer(path.stem, reply, link.exchange(request))
    link.close()


def test_golden_transcripts_are_present() -> None:
    names = {p.stem for p in GOLDEN_FILES}
    assert {"hello", "measure_codes", "set_get_params", "ping", "retransmit", "malformed_dropped"} <= names


# -- the Arduino sketch on a mock Arduino core ----------------------------------------------------------
MOCK_ARDUINO_H = r"""
// Mock Arduino core for host builds: each PWM pin is looped back to an analog input
// (A0 <- D3, A1 <- D5, A2 <- D6, A3 <- D9), the 10-bit ADC reads round(duty * 1023 / 255),
// Serial reads stdin bytes and writes stdout.
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#define A0 14
#define A1 15
#define A2 16
#define A3 17
#define LED_BUILTIN 13
#define OUTPUT 1
static int mock_pwm[32];
static unsigned long mock_ms;
inline void pinMode(int, int) {}
inline void analogWrite(int pin, int duty) { mock_pwm[pin] = duty; }
inline int analogRead(int pin) {
    static const int src[4] = {3, 5, 6, 9};
    return (mock_pwm[src[pin - A0]] * 1023 + 127) / 255;
}
inline void digitalWrite(int, int) {}
inline int digitalRead(int) { return 0; }
inline void delay(unsigned long ms) { mock_ms += ms; }
inline void delayMicroseconds(unsigned int) {}
inline unsigned long millis() { return mock_ms; }
struct MockSerial {
    int pending = -2;
    void begin(long) {}
    int available() { if (pending == -2) pending = getchar(); return pending != EOF; }
    int read() { available(); int c = pending; pending = -2; return c; }
    size_t write(const uint8_t *d, size_t n) { return fwrite(d, 1, n, stdout); }
};
static MockSerial Serial;
"""

MOCK_MAIN = r"""
#include "Arduino.h"
#include "hwsim_board.ino"
int main() {
    setup();
    while (Serial.available()) loop();
    return 0;
}
"""


def test_arduino_sketch_builds_and_answers_on_a_mock_arduino_core(build: Build, tmp_path: Path) -> None:
    cxx = _find(os.environ.get("CXX"), "c++", "g++", "clang++")
    if cxx is None:
        pytest.skip("no C++ compiler on PATH: the Arduino sketch cannot be compiled against the mock core")
    (tmp_path / "Arduino.h").write_text(MOCK_ARDUINO_H)
    (tmp_path / "main.cpp").write_text(MOCK_MAIN)
    obj, exe = tmp_path / "hwsim_fw.o", tmp_path / "sketch"
    _compile([build.cc, *STRICT, "-O1", "-c", str(FW / "hwsim_fw.c"), "-o", str(obj)])
    _compile([cxx, "-std=c++11", "-Wall", "-Wextra", "-Werror", "-I", str(tmp_path), "-I", str(FW),
              "-I", str(FW / "arduino" / "hwsim_board"), str(tmp_path / "main.cpp"), str(obj), "-o", str(exe)])
    volts = np.array([[0.0, 1.25, 2.5, 4.25], [4.4, 3.0, 0.1, 1.0], [0.5, 0.5, 0.5, 0.5]], dtype=np.float32)
    over = volts.copy()
    over[1, 2] = 4.6
    requests = [
        Frame(MsgType.HELLO, 1),
        Frame(MsgType.MEASURE, 2, encode_samples(volts, (0.0, 5.0), 8)),
        Frame(MsgType.SET_PARAMS, 3, encode_params({"settle_ms": np.array([5.0])})),
        Frame(MsgType.GET_PARAMS, 4),
        Frame(MsgType.MEASURE, 5, encode_samples(over, (0.0, 5.0), 8)),
        Frame(MsgType.PING, 6),
    ]
    res = subprocess.run([str(exe)], input=b"".join(map(encode_frame, requests)), capture_output=True, timeout=30)
    assert res.returncode == 0, res.stderr.decode()
    replies = FrameReader().feed(res.stdout)
    assert not [r for r in replies if isinstance(r, FrameError)]
    assert [(r.seq, r.status) for r in replies] == [(1, 0), (2, 0), (3, 0), (4, 0), (5, Status.ERR_INTERLOCK), (6, 0)]
    caps = decode_hello(replies[0].body)
    assert caps["schema_hash"] == info_from_capabilities(caps).schema_hash()  # the sketch's constant is right
    assert caps["max_payload"] == 512 and caps["max_batch"] == 16
    duty = to_codes(volts, (0.0, 5.0), 8).astype(np.int64)
    adc = (duty * 1023 + 127) // 255
    got = decode_samples(replies[1].body, (4,), (0.0, 5.0), 10)
    np.testing.assert_array_equal(to_codes(got, (0.0, 5.0), 10), adc)
    assert decode_params(replies[3].body)["settle_ms"].tolist() == [5.0]
    uptime, count, _ = decode_ping_reply(replies[5].body)
    assert count == 3 and uptime == 3 * 2  # three samples settled 2 ms each; the refused batch drove nothing
