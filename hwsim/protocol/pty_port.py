"""A pseudo-terminal behind a stable path, so a board can be unplugged and plugged back at the same name.

Next to the path the server keeps a lock file (``<path>.lock``: its PID and the pty the path should
lead to). A server that crashes leaves both behind, and the pty number may be reused by another
program; :func:`check_link` lets a host find that out before it writes a byte.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import tty
from typing import Any, Mapping

from hwsim.protocol.errors import DanglingLink

LOCK_SUFFIX = ".lock"


def lock_path(path: str) -> str:
    """The lock file that belongs to the port link ``path``."""
    return path + LOCK_SUFFIX


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def check_link(path: str) -> None:
    """Raise :class:`DanglingLink` when ``path`` was made by a board server that is gone, or no longer
    leads to that server's pty; do nothing for paths without a lock file (real serial ports)."""
    try:
        with open(lock_path(path), encoding="utf-8") as fh:
            text = fh.read(4096)
    except OSError:
        return
    try:
        lock = json.loads(text)
        pid, pty = int(lock["pid"]), str(lock["pty"])
    except (ValueError, KeyError, TypeError) as exc:
        raise DanglingLink(f"lock file '{lock_path(path)}' is unreadable ({exc}); if no 'hwsim serve' uses "
                           f"'{path}', delete both") from exc
    if not _alive(pid):
        raise DanglingLink(f"'{path}' was made by a board server (pid {pid}) that is no longer running: the link "
                           f"dangles and may lead to an unrelated program's terminal; nothing was sent. Restart "
                           f"the board server (or delete '{path}' and its .lock)")
    if os.path.lexists(path) and os.path.realpath(path) != os.path.realpath(pty):
        raise DanglingLink(f"'{path}' leads to {os.path.realpath(path)}, but its board server (pid {pid}) serves "
                           f"{pty}; nothing was sent. Wait for the server to re-plug, or restart it")


class PtyPort:
    """The board end of a pty; the host opens :attr:`path` (a symlink to the pty's slave device).

    :meth:`unplug` closes the pty (the host's reads fail with EIO) and removes the symlink (reopening
    fails); :meth:`plug` creates a fresh pty and atomically points the same path at it. ``stamp``
    (e.g. the board's serial number and schema hash) is written into the lock file with the PID.
    The slave device is made readable and writable by its owner only.
    """

    def __init__(self, link: str | None = None, stamp: Mapping[str, Any] | None = None) -> None:
        self._tmpdir = None if link else tempfile.mkdtemp(prefix="hwsim-")
        self.path = link or os.path.join(self._tmpdir, "board")  # type: ignore[arg-type]
        self.stamp = dict(stamp or {})
        self.master: int | None = None
        self._slave: int | None = None
        self.device_name = ""
        self.plug()

    def plug(self) -> None:
        """Create a new pty (raw mode, owner-only), record it in the lock file and point :attr:`path` at it."""
        if self.master is not None:
            return
        master, slave = os.openpty()
        tty.setraw(slave)
        os.fchmod(slave, 0o600)
        os.set_blocking(master, False)
        self.master, self._slave = master, slave
        self.device_name = os.ttyname(slave)
        self._write_lock()
        tmp = f"{self.path}.{os.getpid()}.tmp"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(self.device_name, tmp)
        os.replace(tmp, self.path)

    def _write_lock(self) -> None:
        tmp = f"{lock_path(self.path)}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump({"pid": os.getpid(), "pty": self.device_name, **self.stamp}, fh)
        os.replace(tmp, lock_path(self.path))

    def unplug(self) -> None:
        """Remove the path and close the pty, as a USB board vanishing would (the lock file stays)."""
        if os.path.lexists(self.path):
            os.unlink(self.path)
        for fd in (self.master, self._slave):
            if fd is not None:
                os.close(fd)
        self.master = self._slave = None

    def close(self) -> None:
        """Unplug, remove the lock file and the temporary folder this port created."""
        self.unplug()
        try:
            os.unlink(lock_path(self.path))
        except FileNotFoundError:
            pass
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None
