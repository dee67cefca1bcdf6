"""The pty transport of the device server: one pseudo-terminal behind a stable path (and its lock file).

A pty has one line and no notion of a connection: every host that opens the path shares it, so
there is no idle timeout, and access is governed by the file permissions of the pty (owner only) and
of the folder holding the link. A host starts its HELLO with a frame delimiter, which discards any
partial frame a previous host left behind.
"""

from __future__ import annotations

import os
import select
import time
from typing import Any, Mapping

from hwsim.protocol.pty_port import PtyPort

GIVE_UP_S = 2.0  # reply bytes nobody reads within this time are lost, as a UART's would be


class PtyConnection:
    """The board end (master) of the pty, as a :class:`~hwsim.server.loop.Connection`."""

    def __init__(self, master: int, stats: Any) -> None:
        self.master = master
        self.stats = stats

    def fileno(self) -> int:
        """The pty master."""
        return self.master

    def read_now(self) -> bytes | None:
        """What the host wrote (None: nothing yet; a pty never reports a hang-up)."""
        try:
            return os.read(self.master, 1 << 16) or None
        except OSError:  # EAGAIN, or EIO while no host has the slave open
            return None

    def write(self, data: bytes) -> None:
        """Write to the non-blocking master; bytes the host does not take within 2 s are lost."""
        view = memoryview(data)
        deadline = time.monotonic() + GIVE_UP_S
        while view:
            try:
                view = view[os.write(self.master, view):]
            except BlockingIOError:
                if time.monotonic() > deadline:
                    self.stats["tx_lost"] += 1
                    return
                select.select([], [self.master], [], 0.05)
            except OSError:
                self.stats["tx_lost"] += 1
                return


class PtyTransport:
    """Serve on a new pty at ``link`` (default: a private temp folder); ``stamp`` goes into the lock file."""

    idle_timeout_s: float | None = None

    def __init__(self, link: str | None, stats: Any, stamp: Mapping[str, Any] | None = None) -> None:
        self.port = PtyPort(link, stamp)
        self.url = self.port.path
        self.stats = stats

    def accept(self) -> PtyConnection | None:
        """The pty's line while it is plugged."""
        master = self.port.master
        return PtyConnection(master, self.stats) if master is not None else None

    def fds(self) -> list[int]:
        """Nothing besides the line."""
        return []

    def service(self, ready: set[int]) -> None:
        """Nothing to do."""

    def release(self, conn: PtyConnection) -> None:
        """The line stays open."""

    def unplug(self) -> None:
        """Close the pty and remove the path."""
        self.port.unplug()

    def plug(self) -> None:
        """A fresh pty at the same path."""
        self.port.plug()

    def close(self) -> None:
        """Close the pty; remove the path, the lock file and the temp folder."""
        self.port.close()
