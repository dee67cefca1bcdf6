"""A pseudo-terminal behind a stable path, so a board can be unplugged and plugged back at the same name."""

from __future__ import annotations

import os
import shutil
import tempfile
import tty


class PtyPort:
    """The board end of a pty; the host opens :attr:`path` (a symlink to the pty's slave device).

    :meth:`unplug` closes the pty (the host's reads fail with EIO) and removes the symlink (reopening
    fails); :meth:`plug` creates a fresh pty and atomically points the same path at it.
    """

    def __init__(self, link: str | None = None) -> None:
        self._tmpdir = None if link else tempfile.mkdtemp(prefix="hwsim-")
        self.path = link or os.path.join(self._tmpdir, "board")  # type: ignore[arg-type]
        self.master: int | None = None
        self._slave: int | None = None
        self.device_name = ""
        self.plug()

    def plug(self) -> None:
        """Create a new pty (raw mode) and point :attr:`path` at it."""
        if self.master is not None:
            return
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self.master, self._slave = master, slave
        self.device_name = os.ttyname(slave)
        tmp = f"{self.path}.{os.getpid()}.tmp"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(self.device_name, tmp)
        os.replace(tmp, self.path)

    def unplug(self) -> None:
        """Remove the path and close the pty, as a USB board vanishing would."""
        if os.path.lexists(self.path):
            os.unlink(self.path)
        for fd in (self.master, self._slave):
            if fd is not None:
                os.close(fd)
        self.master = self._slave = None

    def close(self) -> None:
        """Unplug and remove the temporary folder this port created."""
        self.unplug()
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None
