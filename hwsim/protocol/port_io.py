"""Byte I/O on an open pyserial port with as few system calls as the port allows.

pyserial's POSIX ``read(n)`` returns at most ``n`` bytes per ``select`` + ``read`` pair, so a reader
that does not know how much has arrived either reads one byte at a time or asks ``in_waiting``
(an ioctl) first, and its ``write`` waits in ``select`` after every write. For a plain POSIX serial
port (a real UART, a USB CDC device, a pty) :class:`PortIO` instead waits once with ``select`` and
takes everything that has arrived in one ``read``, and writes with ``write`` alone, waiting only
when the driver's buffer is full. Every other port (``socket://``, ``spy://``, ``rfc2217://``,
``sim://`` ...) goes through pyserial's own calls, so their logging and semantics stay intact.

Errors keep pyserial's meaning: a port that reports data but returns none (a device unplugged on
Linux) raises :class:`serial.SerialException`; other OS errors propagate as :class:`OSError`.
"""

from __future__ import annotations

import errno
import os
import select

import serial

_RETRY = (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR)
CHUNK = 1 << 16


def bytes_waiting(ser: serial.SerialBase) -> int:
    """Bytes ready to read on ``ser`` now.

    pyserial's ``socket://`` handler answers ``in_waiting`` with 0 or 1 (readable or not), which
    would turn every read into a one-byte read; for it the count comes from the socket (FIONREAD).
    """
    sock = getattr(ser, "_socket", None)
    if sock is not None and type(ser).__module__ == "serial.urlhandler.protocol_socket":
        try:
            import fcntl
            import struct
            import termios

            return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]
        except (ImportError, OSError, ValueError):
            pass
    return ser.in_waiting


def _posix_fd(ser: serial.SerialBase) -> int | None:
    """The file descriptor of a plain pyserial POSIX port (not a subclass such as ``spy://``), else None."""
    try:
        from serial.serialposix import Serial as PosixSerial
    except ImportError:  # pragma: no cover - Windows
        return None
    if type(ser) is not PosixSerial:
        return None
    fd = getattr(ser, "fd", None)
    return fd if isinstance(fd, int) and fd >= 0 else None


class PortIO:
    """Fast reads and writes on the open pyserial port ``ser`` (see the module docstring)."""

    def __init__(self, ser: serial.SerialBase) -> None:
        self.ser = ser
        self.fd = _posix_fd(ser)

    def write(self, data: bytes, timeout: float | None) -> None:
        """Send all of ``data``; :class:`serial.SerialTimeoutException` when the line takes none of it
        for ``timeout`` seconds (None: wait as long as it takes)."""
        fd = self.fd
        if fd is None:
            self.ser.write(data)
            return
        view = memoryview(data)
        while view:
            try:
                n = os.write(fd, view)
            except OSError as exc:
                if exc.errno not in _RETRY:
                    raise
                n = 0
            if n:
                view = view[n:]
                continue
            _, ready, _ = select.select([], [fd], [], timeout)
            if not ready:
                raise serial.SerialTimeoutException("Write timeout")

    def read_some(self, timeout: float) -> bytes:
        """Whatever has arrived, waiting at most ``timeout`` seconds for the first byte (b'' if none); a port
        read through pyserial waits its own read timeout instead."""
        fd = self.fd
        if fd is None:
            return self._read_pyserial()
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            return b""
        try:
            data = os.read(fd, CHUNK)
        except OSError as exc:
            if exc.errno in _RETRY:
                return b""
            raise
        if not data:
            raise serial.SerialException("device reports readiness to read but returned no data "
                                         "(device disconnected or multiple access on port?)")
        return data

    def _read_pyserial(self) -> bytes:
        ser = self.ser
        waiting = bytes_waiting(ser)
        chunk = ser.read(waiting if waiting > 0 else 1)  # blocks at most the port's own timeout
        if chunk and not waiting:  # woke on the first byte: take what else has arrived with it
            more = bytes_waiting(ser)
            if more:
                chunk += ser.read(more)
        return chunk

