"""The TCP transport of the device server: one host at a time, others told the board is busy.

The host that connects first holds the board until it disconnects or stays silent for
``idle_timeout_s`` (it then gets an ``ERR_IDLE`` notice and the connection closes). A host that
connects meanwhile has its first request answered with ``ERR_LOCKED`` ("board busy: another host
holds it") and is disconnected; one that sends nothing within :data:`REFUSE_WINDOW_S` is simply
disconnected. Each connection starts a new board session (fresh frame reader, cache and
authentication). Anyone who can reach the port can connect: bind to 127.0.0.1 (the default) and give
the board a shared secret (``hwsim serve --secret-file``) on machines with other users.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import Any, Callable

from hwsim.errors import ConfigError
from hwsim.protocol.frame import Frame, FrameReader

REFUSE_WINDOW_S = 1.0
MAX_REFUSING = 16
SEND_TIMEOUT_S = 2.0


class TcpConnection:
    """One accepted socket, as a :class:`~hwsim.server.loop.Connection`."""

    def __init__(self, sock: socket.socket, stats: Any) -> None:
        self.sock = sock
        self.stats = stats
        self.since = time.monotonic()

    def fileno(self) -> int:
        """The socket."""
        return self.sock.fileno()

    def read_now(self) -> bytes | None:
        """What has arrived (None: nothing yet; ``b""``: the host closed or reset the connection)."""
        try:
            return self.sock.recv(1 << 16, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return None
        except OSError:
            return b""

    def write(self, data: bytes) -> None:
        """Send everything (bytes the host does not take within 2 s are lost)."""
        try:
            self.sock.sendall(data)
        except OSError:
            self.stats["tx_lost"] += 1

    def close(self) -> None:
        """Close the socket."""
        try:
            self.sock.close()
        except OSError:
            pass


@dataclass
class _Refusing:
    sock: socket.socket
    reader: FrameReader
    deadline: float


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (0: any free port), or a :class:`ConfigError` that says why not."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc}; pick another port (0 = any free one)") from exc
    sock.listen(4)
    sock.setblocking(False)
    return sock


class TcpTransport:
    """Serve one host at a time on ``host:port``; ``refuse(request, held_s)`` gives the ERR_LOCKED reply bytes."""

    def __init__(self, host: str, port: int, stats: Any, refuse: Callable[[Frame, float], bytes],
                 idle_timeout_s: float | None = 30.0) -> None:
        if idle_timeout_s is not None and idle_timeout_s <= 0:
            raise ConfigError(f"idle_timeout_s must be > 0 seconds or None, got {idle_timeout_s}")
        self.idle_timeout_s = idle_timeout_s
        self.stats = stats
        self.refuse = refuse
        self.listener: socket.socket | None = listen(host, port)
        self.address = self.listener.getsockname()[:2]
        self.url = f"socket://{self.address[0]}:{self.address[1]}"
        self.holder: TcpConnection | None = None
        self._refusing: dict[int, _Refusing] = {}

    def accept(self) -> TcpConnection | None:
        """The next host, when one is waiting and nobody holds the board."""
        if self.holder is not None or self.listener is None:
            return None
        try:
            sock, _ = self.listener.accept()
        except (BlockingIOError, OSError):
            return None
        sock.setblocking(True)
        sock.settimeout(SEND_TIMEOUT_S)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.holder = TcpConnection(sock, self.stats)
        return self.holder

    def fds(self) -> list[int]:
        """The listener (while someone holds the board) and the hosts being refused."""
        out = list(self._refusing)
        if self.listener is not None and self.holder is not None:
            out.append(self.listener.fileno())
        return out

    def service(self, ready: set[int]) -> None:
        """Take new hosts into refusal while the board is held; answer or drop those being refused."""
        now = time.monotonic()
        listener = self.listener
        if listener is not None and self.holder is not None and listener.fileno() in ready:
            try:
                sock, _ = listener.accept()
            except OSError:
                sock = None
            if sock is not None:
                if len(self._refusing) >= MAX_REFUSING:
                    sock.close()
                else:
                    sock.setblocking(False)
                    self._refusing[sock.fileno()] = _Refusing(sock, FrameReader(max_frame=4096),
                                                              now + REFUSE_WINDOW_S)
        for fd, r in list(self._refusing.items()):
            done = now > r.deadline
            if fd in ready and not done:
                try:
                    data = r.sock.recv(4096)
                except BlockingIOError:
                    data = None
                except OSError:
                    data = b""
                done = data == b""
                for item in r.reader.feed(data or b""):
                    if isinstance(item, Frame) and not item.is_response:
                        held = now - self.holder.since if self.holder is not None else 0.0
                        try:
                            r.sock.send(self.refuse(item, held))
                        except OSError:
                            pass
                        done = True
                        break
            if done:
                r.sock.close()
                del self._refusing[fd]

    def release(self, conn: TcpConnection) -> None:
        """Close the host's connection; the next one may take the board."""
        conn.close()
        if self.holder is conn:
            self.holder = None

    def unplug(self) -> None:
        """Stop listening (connections are refused) and drop everyone."""
        for r in self._refusing.values():
            r.sock.close()
        self._refusing.clear()
        if self.holder is not None:
            self.release(self.holder)
        if self.listener is not None:
            self.listener.close()
            self.listener = None

    def plug(self) -> None:
        """Listen again on the same address."""
        if self.listener is None:
            self.listener = listen(*self.address)

    def close(self) -> None:
        """Release the port."""
        self.unplug()
