"""``sim://<device-spec>``: an in-process simulated board behind a pyserial-compatible port.

``serial.serial_for_url("sim://reference?seed=3&profile=bench")`` puts the board that
:func:`hwsim.server.board_from_url` builds behind the port (see there for the query keys); no OS pty
is involved. The port only carries bytes: what is written goes to the board's ``feed`` and its reply
becomes readable. The board belongs to this port object: closing and reopening the same object (what
:class:`hwsim.remote.RemoteDevice` does to reconnect) finds the same board, which refuses to be
opened while its fault schedule keeps it unplugged and comes back rebooted. A device spec in the URL
names registered devices only; set the port's ``allow_import`` attribute before ``open()`` to accept
``module:Class`` (``RemoteDevice(url, allow_import=True)`` does).
"""

from __future__ import annotations

import threading
import time

from serial.serialutil import PortNotOpenError, SerialBase, SerialException

from hwsim.errors import ConfigError, HwsimError
from hwsim.server.board import Board
from hwsim.server.sim import board_from_url


class SimURLError(ConfigError, SerialException):
    """A ``sim://`` URL that names no board (unknown device, refused import, bad option)."""


class Serial(SerialBase):
    """A serial port whose far end is a :class:`hwsim.server.Board` in this process."""

    allow_import = False  # the caller's opt-in for 'module:Class' device specs; never taken from the URL

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        self.board: Board | None = None
        self._rx = bytearray()
        self._cond = threading.Condition()
        self._dead = False
        super().__init__(*args, **kwargs)

    def open(self) -> None:
        """Plug into the simulated board named by the URL (built on the first open)."""
        if self.is_open:
            raise SerialException("Port is already open.")
        if self._port is None:
            raise SerialException("Port must be configured before it can be used.")
        if self.board is None:
            try:
                self.board = board_from_url(self._port, allow_import=self.allow_import)
            except HwsimError as exc:
                raise SimURLError(f"cannot build simulated board {self._port!r}: {exc}") from exc
        if not self.board.plug_in():
            raise SerialException(f"could not open port {self._port}: the simulated board is unplugged")
        self.board.new_session()
        self._rx.clear()
        self._dead = False
        self.is_open = True

    def close(self) -> None:
        """Close the port; the board stays with this port object for a later :meth:`open`."""
        with self._cond:
            self.is_open = False
            self._cond.notify_all()
        super().close()

    def _reconfigure_port(self) -> None:
        """Serial settings mean nothing to an in-process board."""

    def _check(self) -> None:
        if not self.is_open:
            raise PortNotOpenError()
        if self._dead:
            raise SerialException("read failed: the simulated board was unplugged (EIO)")

    @property
    def in_waiting(self) -> int:
        """Bytes the board has sent that were not read yet."""
        self._check()
        return len(self._rx)

    def read(self, size: int = 1) -> bytes:
        """Read up to ``size`` bytes, waiting at most ``timeout`` for them (None: until they come)."""
        self._check()
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        with self._cond:
            while len(self._rx) < size and self.is_open and not self._dead:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._cond.wait(left)
            self._check()
            out = bytes(self._rx[:size])
            del self._rx[:size]
        return out

    def write(self, data: bytes) -> int:
        """Send bytes to the board; its replies become readable at once."""
        self._check()
        data = bytes(data)
        board = self.board
        assert board is not None
        reply = board.feed(data)
        with self._cond:
            self._rx += reply
            if board.unplugged:  # the board vanished: reads and writes fail until the port is reopened
                self._dead = True
                self._rx.clear()
            self._cond.notify_all()
        return len(data)

    def reset_input_buffer(self) -> None:
        """Discard unread reply bytes."""
        self._check()
        with self._cond:
            self._rx.clear()

    def reset_output_buffer(self) -> None:
        """Nothing is buffered towards the board."""
        self._check()

    @property
    def out_waiting(self) -> int:
        """Always 0: writes are delivered at once."""
        return 0

    def cancel_read(self) -> None:
        """Wake a blocked :meth:`read`."""
        with self._cond:
            self._cond.notify_all()

    def _update_break_state(self) -> None:
        pass

    def _update_rts_state(self) -> None:
        pass

    def _update_dtr_state(self) -> None:
        pass

    @property
    def cts(self) -> bool:
        """Always asserted."""
        return True

    @property
    def dsr(self) -> bool:
        """Always asserted."""
        return True

    @property
    def ri(self) -> bool:
        """Never ringing."""
        return False

    @property
    def cd(self) -> bool:
        """Carrier always present."""
        return True
