"""Misbehaving boards on real ptys, for the hostile-boundary tests (issue 12).

:class:`RogueBoard` runs a behaviour in a thread at the board end of a pty; the behaviours below are
what a broken, half-flashed or malicious board (or a wrong cable) does to a host. Each reads what the
host sends through :meth:`RogueBoard.frames` and answers as it pleases.
"""

from __future__ import annotations

import json
import os
import random
import select
import threading
import time
from typing import Callable, Iterator

from hwsim.protocol.frame import Frame, FrameReader
from hwsim.protocol.hello import encode_hello
from hwsim.protocol.messages import MsgType
from hwsim.protocol.pty_port import PtyPort
from hwsim.reference import ReferenceDevice
from hwsim.server import Board

MARGIN_S = 0.5  # allowance over a declared budget on a loaded 2-core test machine (the code's own slack: 50 ms)


class RogueBoard:
    """A pty whose board end runs ``behave(self)`` in a thread until :meth:`close`."""

    def __init__(self, behave: Callable[[RogueBoard], None]) -> None:
        self.port = PtyPort()
        self.path = self.port.path
        self.stop = threading.Event()
        self.received = bytearray()
        self.board = Board(ReferenceDevice(seed=0))  # for the well-formed parts of a reply
        self._reader = FrameReader()
        self._thread = threading.Thread(target=self._run, args=(behave,), daemon=True)
        self._thread.start()

    def _run(self, behave: Callable[[RogueBoard], None]) -> None:
        try:
            behave(self)
        except OSError:  # the pty was closed under us
            pass

    def read(self, timeout: float = 0.05) -> bytes:
        """What the host sent within ``timeout`` (b'' if nothing)."""
        master = self.port.master
        if master is None:
            self.stop.wait(timeout)
            return b""
        ready, _, _ = select.select([master], [], [], timeout)
        if not ready:
            return b""
        try:
            data = os.read(master, 1 << 16)
        except OSError:
            return b""
        self.received += data
        return data

    def frames(self) -> Iterator[Frame]:
        """The host's requests, one at a time, until the board is closed."""
        while not self.stop.is_set():
            for item in self._reader.feed(self.read()):
                if isinstance(item, Frame):
                    yield item

    def write(self, data: bytes) -> None:
        """Send bytes to the host (dropped when the host does not read them)."""
        master = self.port.master
        if master is None:
            return
        view = memoryview(data)
        while view and not self.stop.is_set():
            try:
                view = view[os.write(master, view):]
            except BlockingIOError:
                select.select([], [master], [], 0.05)

    def trickle(self, data: bytes, every_s: float) -> None:
        """Send ``data`` one byte at a time, ``every_s`` apart, until done or closed."""
        for i in range(len(data)):
            if self.stop.wait(every_s):
                return
            self.write(data[i:i + 1])

    def close(self) -> None:
        """Stop the behaviour and remove the pty."""
        self.stop.set()
        self._thread.join(5)
        self.port.close()


# -- behaviours ------------------------------------------------------------------------------------
def silent(b: RogueBoard) -> None:
    """Reads everything, never answers (a board that is off, or a program that is not a board)."""
    while not b.stop.is_set():
        b.read()


def garbage(b: RogueBoard) -> None:
    """Answers every request with random bytes, delimiters included (wrong baud rate, line noise)."""
    rng = random.Random(1)
    for _ in b.frames():
        b.write(bytes(rng.randrange(256) for _ in range(300)))


def empty_frames(b: RogueBoard) -> None:
    """Sends nothing but frame delimiters, without end (a line that keeps the host's byte timer alive)."""
    while not b.stop.is_set():
        b.read(0.0)
        b.write(b"\x00" * 64)
        time.sleep(0.005)


def flood(b: RogueBoard) -> None:
    """Sends non-zero bytes as fast as the host takes them, never a delimiter."""
    chunk = bytes(range(1, 256)) * 16
    while not b.stop.is_set():
        b.read(0.0)
        b.write(chunk)


def half_frames(b: RogueBoard) -> None:
    """Answers each request with the first half of a correct reply and no delimiter."""
    for frame in b.frames():
        wire = b.board.handle(frame)
        b.write(wire[:len(wire) // 2])


def trickle_hello(b: RogueBoard) -> None:
    """Answers HELLO correctly but one byte every 50 ms (the reply never completes in a try's time)."""
    for frame in b.frames():
        b.trickle(b.board.handle(frame), 0.05)


def trickle_measure(b: RogueBoard) -> None:
    """A proper board for HELLO; a MEASURE reply comes one byte every 50 ms."""
    for frame in b.frames():
        wire = b.board.handle(frame)
        if frame.type == MsgType.MEASURE:
            b.trickle(wire, 0.05)
        else:
            b.write(wire)


def echo(b: RogueBoard) -> None:
    """Sends back every byte it receives (a loopback plug, TX wired to RX)."""
    while not b.stop.is_set():
        data = b.read()
        if data:
            b.write(data)


def hang_up_on_measure(b: RogueBoard) -> None:
    """A proper board until the first MEASURE; then it vanishes and never comes back."""
    for frame in b.frames():
        if frame.type == MsgType.MEASURE:
            b.port.unplug()
            return
        b.write(b.board.handle(frame))


def lying_measure(b: RogueBoard) -> None:
    """A proper board whose MEASURE reply declares one sample fewer than it was asked for."""
    for frame in b.frames():
        if frame.type == MsgType.MEASURE:
            n = int.from_bytes(frame.body[:4], "little")
            body = (n - 1).to_bytes(4, "little") + bytes(32 * (n - 1))
            b.write(b.board._reply(frame, 0, body))
        else:
            b.write(b.board.handle(frame))


def lying_hello(raw: bytes) -> Callable[[RogueBoard], None]:
    """A board whose HELLO reply body is ``raw`` (well framed, lying content); it answers nothing else."""
    def behave(b: RogueBoard) -> None:
        for frame in b.frames():
            if frame.type == MsgType.HELLO:
                b.write(b.board._reply(frame, 0, raw))
    return behave


def hello_with(**fields: object) -> bytes:
    """The reference board's HELLO body with ``fields`` replaced (``None`` removes a field). Values given
    as the strings ``'<1e999>'`` or ``'<NaN>'`` appear as those bare JSON tokens."""
    caps = dict(Board(ReferenceDevice(seed=0)).capabilities())
    for key, value in fields.items():
        if value is None:
            caps.pop(key, None)
        else:
            caps[key] = value
    text = encode_hello(caps).decode()
    return text.replace('"<1e999>"', "1e999").replace('"<NaN>"', "NaN").encode()


def nested(depth: int) -> bytes:
    """A HELLO body nesting ``depth`` JSON arrays (the recursion bomb)."""
    return ('{"name": ' + "[" * depth + "]" * depth + "}").encode()


def huge() -> bytes:
    """A HELLO body of more than 64 KiB."""
    return json.dumps({"name": "x" * 70000}).encode()
