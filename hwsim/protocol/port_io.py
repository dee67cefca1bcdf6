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
import fcntl
import os
import select
import struct
import termios
import time

import serial
from serial.serialposix import Serial as PosixSerial

_RETRY = (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR)
CHUNK = 1 << 16
# the line rate assumed where the port's baud setting means nothing (ptys, USB CDC, sockets, sim://): 100 kB/s
UNKNOWN_LINE_BAUD = 1_000_000
# paths whose baud setting is not the line rate: ptys (Linux, macOS) and USB CDC ACM devices
_NOT_A_UART = ("/dev/pts/", "/dev/ttys", "/dev/ttyACM", "/dev/cu.usbmodem", "/dev/tty.usbmodem")


def line_rate(ser: serial.SerialBase, explicit: float | None = None) -> float:
    """The baud rate a request's line time is computed at: ``explicit`` when the caller gave one, the port's
    setting on a real UART (a plain POSIX serial port that is not a pty or USB CDC, or ``rfc2217://``),
    otherwise :data:`UNKNOWN_LINE_BAUD`."""
    if explicit:
        return float(explicit)
    module = type(ser).__module__
    if type(ser) is PosixSerial:
        if not os.path.realpath(str(ser.port)).startswith(_NOT_A_UART) and not str(ser.port).startswith(_NOT_A_UART):
            return float(ser.baudrate)
    elif module == "serial.urlhandler.protocol_rfc2217":
        return float(ser.baudrate)
    return float(UNKNOWN_LINE_BAUD)


def bytes_waiting(ser: serial.SerialBase) -> int:
    """Bytes ready to read on ``ser`` now.

    pyserial's ``socket://`` handler answers ``in_waiting`` with 0 or 1 (readable or not), which
    would turn every read into a one-byte read; for it the count comes from the socket (FIONREAD).
    """
    sock = getattr(ser, "_socket", None)
    if sock is not None and type(ser).__module__ == "serial.urlhandler.protocol_socket":
        try:
            return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]
        except (OSError, ValueError):
            pass
    return ser.in_waiting


def close_port(ser: serial.SerialBase) -> None:
    """Close ``ser``, ignoring errors. pyserial's ``socket://`` close sleeps 0.3 s "for quick reconnects",
    which a request's budget cannot afford; its socket is closed directly instead."""
    sock = getattr(ser, "_socket", None)
    try:
        if sock is not None and type(ser).__module__ == "serial.urlhandler.protocol_socket":
            ser._socket = None  # type: ignore[attr-defined]
            ser.is_open = False
            sock.close()
        else:
            ser.close()
    except (serial.SerialException, OSError):
        pass


def _posix_fd(ser: serial.SerialBase) -> int | None:
    """The file descriptor of a plain pyserial POSIX port (not a subclass such as ``spy://``), else None."""
    if type(ser) is not PosixSerial:
        return None
    fd = getattr(ser, "fd", None)
    return fd if isinstance(fd, int) and fd >= 0 else None


class PortIO:
    """Fast reads and writes on the open pyserial port ``ser`` (see the module docstring)."""

    def __init__(self, ser: serial.SerialBase) -> None:
        self.ser = ser
        self.fd = _posix_fd(ser)

    def write(self, data: bytes, deadline: float | None) -> None:
        """Send all of ``data`` by the :func:`time.monotonic` time ``deadline`` (None: as long as it takes);
        :class:`serial.SerialTimeoutException` when the line has not taken it all by then."""
        fd = self.fd
        if fd is None:
            if deadline is not None:
                self.ser.write_timeout = max(1e-3, deadline - time.monotonic())
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
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise serial.SerialTimeoutException("Write timeout")
            _, ready, _ = select.select([], [fd], [], left)
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

