"""The one serving loop of the device server: any transport, one host session after another.

A transport (:class:`Transport`: a pty, a TCP port) hands out :class:`Connection` objects; the loop
feeds what each connection delivers to the :class:`~hwsim.server.board.Board` and writes the replies
back, paced like a UART when a :class:`~hwsim.protocol.pacing.LinePacer` is given, polling the line
for ``spin_s`` after each reply. It starts a new board session per connection, drops a host that
stayed silent for the transport's idle timeout (after an ``ERR_IDLE`` notice), and performs the
unplug/replug the board's fault schedule asks for.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Protocol

from hwsim.protocol.pacing import LinePacer
from hwsim.server.board import Board

WAKE_S = 0.2  # longest sleep in select between checks of the stop flag


class Connection(Protocol):
    """One host on the line."""

    def fileno(self) -> int:
        """The descriptor to wait on for bytes from the host."""

    def read_now(self) -> bytes | None:
        """Bytes that have arrived (None: nothing yet; ``b""``: the host hung up), without blocking."""

    def write(self, data: bytes) -> None:
        """Send bytes to the host (bytes it does not take in time are lost, as on a UART)."""


class Transport(Protocol):
    """Where hosts come from: :meth:`accept` gives the next one, :meth:`release` ends its session."""

    url: str
    idle_timeout_s: float | None

    def accept(self) -> Connection | None:
        """A connection if a host is there now (non-blocking), else None."""

    def fds(self) -> list[int]:
        """Descriptors to watch besides the connection (a listener, hosts being refused)."""

    def service(self, ready: set[int]) -> None:
        """Handle those of :meth:`fds` that are ready."""

    def release(self, conn: Connection) -> None:
        """The session on ``conn`` is over."""

    def unplug(self) -> None:
        """Vanish from the host's view (the board was unplugged)."""

    def plug(self) -> None:
        """Come back at the same address."""

    def close(self) -> None:
        """Release everything."""


class ServeLoop:
    """Serve ``board`` over ``transport`` until ``stop`` is set; ``wait(fds, timeout)`` sleeps in select and
    returns the ready descriptors (waking early when the server stops)."""

    def __init__(self, board: Board, transport: Transport, stop: threading.Event,
                 wait: Callable[[list[int], float], set[int]], baud: float | None = None, spin_s: float = 0.0) -> None:
        self.board = board
        self.transport = transport
        self.stop = stop
        self.wait = wait
        self.pacer = LinePacer(baud) if baud else None
        self.spin_s = float(spin_s)

    def run(self) -> None:
        """Accept hosts one after another; unplug and replug when the board's fault schedule says so."""
        board, transport = self.board, self.transport
        while not self.stop.is_set():
            conn = transport.accept()
            if conn is None:
                transport.service(self.wait(transport.fds(), WAKE_S))
                continue
            board.new_session()
            try:
                self._session(conn)
            finally:
                transport.release(conn)
            if board.unplugged:
                transport.unplug()
                while not board.plug_in():
                    if self.stop.wait(min(board.replug_in(), WAKE_S)):
                        return
                transport.plug()

    def _session(self, conn: Connection) -> None:
        board, transport = self.board, self.transport
        idle = transport.idle_timeout_s
        last = time.monotonic()
        polled: bytes | None = None
        while not self.stop.is_set():
            chunk, polled = polled, None
            if chunk is None:
                timeout = WAKE_S if idle is None else max(0.0, min(WAKE_S, last + idle - time.monotonic()))
                ready = self.wait([conn.fileno(), *transport.fds()], timeout)
                if conn.fileno() in ready:  # the holder first: a host that just hung up frees the board
                    chunk = conn.read_now()  # for whoever is connecting in the same instant
                if chunk != b"":
                    transport.service(ready)
                if chunk is None:
                    if idle is not None and time.monotonic() - last >= idle:
                        board.stats["idle_drops"] += 1
                        conn.write(board.idle_notice(idle))
                        return
                    continue
            if not chunk:
                board.stats["hangups"] += 1
                return
            self._exchange(chunk, conn.write)
            last = time.monotonic()
            if board.unplugged:
                return
            if self.spin_s > 0:
                polled = self._poll(conn.read_now)

    def _exchange(self, chunk: bytes, write: Callable[[bytes], None]) -> None:
        pacer = self.pacer
        if pacer is None:
            out = self.board.feed(chunk)
            if out:
                write(out)
            return
        arrived = pacer.arrival(len(chunk))
        t0 = time.perf_counter()
        out = self.board.feed(chunk)
        if out:  # the reply leaves once the request is in and the board has worked on it
            pacer.send(out, write, not_before=arrived + (time.perf_counter() - t0))

    def _poll(self, read_now: Callable[[], bytes | None]) -> bytes | None:
        """Call the non-blocking ``read_now`` until it returns bytes or ``spin_s`` has passed, as a firmware
        main loop polls its UART; None when nothing came."""
        end = time.perf_counter() + self.spin_s
        while not self.stop.is_set():
            data = read_now()
            if data is not None:
                return data
            if time.perf_counter() >= end:
                break
        return None
