"""A :class:`~hwsim.server.board.Board` served over a pty or a TCP port, in a background thread or in the caller's.

The board logic lives in :mod:`hwsim.server.board`, the transports in :mod:`hwsim.server.pty_transport`
and :mod:`hwsim.server.tcp_transport`, and the one loop between them in :mod:`hwsim.server.loop`.
"""

from __future__ import annotations

import os
import select
import threading
import time
from typing import Callable

from hwsim.device import Device
from hwsim.errors import ConfigError
from hwsim.faults import LinkFaults
from hwsim.protocol.auth import new_challenge
from hwsim.protocol.frame import VERSION
from hwsim.server.board import Board
from hwsim.server.loop import ServeLoop, Transport
from hwsim.server.pty_transport import PtyTransport
from hwsim.server.tcp_transport import TcpTransport

DEFAULT_IDLE_TIMEOUT_S = 30.0


class DeviceServer(Board):
    """A board (see :class:`~hwsim.server.board.Board` for ``device``, ``faults``, ``max_payload``,
    ``protocol_version``, ``clock``, ``secret``, ``challenge_source``) that serves itself on a pty or TCP.

    ``baud`` paces the line like a UART (None: as fast as the transport goes); ``spin_s``: after each
    reply the loop polls the line for this long before it sleeps in ``select``, as a firmware main loop
    polls its UART, so a host measuring in a loop gets its next request served without a process
    wake-up (0: never poll; a board serving in the host's own process should not, it would hold the GIL).
    """

    def __init__(self, device: Device, faults: LinkFaults | None = None, max_payload: int = 65536,
                 baud: float | None = None, protocol_version: int = VERSION,
                 clock: Callable[[], float] = time.monotonic, spin_s: float = 0.0, secret: bytes | None = None,
                 challenge_source: Callable[[], bytes] = new_challenge) -> None:
        if spin_s < 0:
            raise ConfigError(f"spin_s must be >= 0 seconds, got {spin_s}")
        if baud is not None and baud <= 0:
            raise ConfigError(f"baud must be a positive rate, got {baud}")
        super().__init__(device, faults=faults, max_payload=max_payload, protocol_version=protocol_version,
                         clock=clock, secret=secret, challenge_source=challenge_source)
        self.baud = baud
        self.spin_s = float(spin_s)
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self._thread: threading.Thread | None = None
        self._transport: Transport | None = None
        self.url = ""

    def serve_pty(self, link: str | None = None, background: bool = True,
                  on_ready: Callable[[str], None] | None = None) -> str:
        """Serve on a new pty; returns the stable path (a symlink) a host opens as its serial port.

        A lock file ``<path>.lock`` (PID, pty, serial number, schema hash) lets hosts detect a link
        left behind by a crashed server. With ``background=False`` this call runs the loop until
        :meth:`stop` (``on_ready`` gets the path first).
        """
        self._not_serving()
        stamp = {"serial_number": self.info.serial_number, "schema_hash": self.info.schema_hash()}
        return self._start(PtyTransport(link, self.stats, stamp), background, on_ready)

    def serve_tcp(self, host: str = "127.0.0.1", port: int = 0, background: bool = True,
                  on_ready: Callable[[str], None] | None = None,
                  idle_timeout_s: float | None = DEFAULT_IDLE_TIMEOUT_S) -> str:
        """Serve one host at a time on a TCP port (0 picks a free one); returns ``socket://host:port``.

        A host silent for ``idle_timeout_s`` is dropped (None: never); others connecting meanwhile are
        told "board busy: another host holds it".
        """
        self._not_serving()
        return self._start(TcpTransport(host, port, self.stats, self.locked_reply, idle_timeout_s),
                           background, on_ready)

    def _not_serving(self) -> None:
        if self._transport is not None:
            raise ConfigError("this server is already serving; create another DeviceServer")

    def _start(self, transport: Transport, background: bool, on_ready: Callable[[str], None] | None) -> str:
        self._transport = transport
        self.url = transport.url
        loop = ServeLoop(self, transport, self._stop, self._wait, baud=self.baud, spin_s=self.spin_s)
        if on_ready is not None:
            on_ready(self.url)
        if background:
            self._thread = threading.Thread(target=loop.run, name=f"hwsim-board {self.info.name}", daemon=True)
            self._thread.start()
        else:
            loop.run()
        return self.url

    def _wait(self, fds: list[int], timeout: float) -> set[int]:
        """Sleep in select until one of ``fds`` is readable, ``timeout`` passes or :meth:`stop` is called."""
        if self._stop.is_set():
            return set()
        ready, _, _ = select.select([*fds, self._wake_r], [], [], timeout)
        if self._wake_r in ready:
            os.read(self._wake_r, 64)
        return set(ready) - {self._wake_r}

    def running(self) -> bool:
        """True while a background loop is serving."""
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the background loop ends or ``timeout`` passes; True while it still runs."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.running()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and release the pty or socket."""
        self._stop.set()
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        if self._transport is not None:
            self._transport.close()
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._wake_r = self._wake_w = -1

    close = stop

    def __enter__(self) -> DeviceServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
