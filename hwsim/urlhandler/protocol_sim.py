"""``sim://<device-spec>``: an in-process simulated board behind a pyserial-compatible port.

``serial.serial_for_url("sim://reference?seed=3&profile=bench")`` builds the device with
:func:`hwsim.registry.create_device` and puts a :class:`hwsim.server.DeviceServer` behind the port;
no OS pty is involved. Query keys starting with ``link_`` configure link faults
(``link_flip``, ``link_drop``, ``link_truncate``, ``link_unplug_at``, ``link_replug_s``,
``link_seed``) and ``link_max_payload`` the board's max payload; every other key goes to the device.
An unplugged board comes back, rebooted, when the same URL is opened after ``link_replug_s``.
"""

from __future__ import annotations

import threading
import time
from urllib.parse import parse_qsl, urlencode, urlsplit

from serial.serialutil import PortNotOpenError, SerialBase, SerialException

_UNPLUGGED: dict[str, tuple[object, float]] = {}  # url -> (server, time it may be opened again)
_UNPLUGGED_LOCK = threading.Lock()


def _build_server(url: str) -> object:
    from hwsim.errors import HwsimError
    from hwsim.faults import LinkFaults
    from hwsim.registry import create_device
    from hwsim.server import DeviceServer

    parts = urlsplit(url)
    if parts.scheme != "sim":
        raise SerialException(f"expected a URL like 'sim://reference?seed=3', got {url!r}")
    spec = parts.netloc + parts.path
    device_q, fault_q, max_payload = [], [], 65536
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "link_max_payload":
            max_payload = int(value)
        elif key.startswith("link_"):
            fault_q.append(f"{key[5:]}={value}")
        else:
            device_q.append((key, value))
    try:
        device = create_device(spec + ("?" + urlencode(device_q) if device_q else ""))
        faults = LinkFaults.parse(",".join(fault_q)) if fault_q else None
    except (HwsimError, ValueError) as exc:
        raise SerialException(f"cannot build simulated board {url!r}: {exc}") from exc
    return DeviceServer(device, faults=faults, max_payload=max_payload)


class Serial(SerialBase):
    """A serial port whose far end is a :class:`hwsim.server.DeviceServer` in this process."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        self.server = None
        self._rx = bytearray()
        self._cond = threading.Condition()
        self._dead = False
        super().__init__(*args, **kwargs)

    def open(self) -> None:
        """Plug in the simulated board named by the URL."""
        if self.is_open:
            raise SerialException("Port is already open.")
        if self._port is None:
            raise SerialException("Port must be configured before it can be used.")
        with _UNPLUGGED_LOCK:
            entry = _UNPLUGGED.get(self._port)
            if entry is not None:
                server, back_at = entry
                if time.monotonic() < back_at:
                    raise SerialException(f"could not open port {self._port}: the simulated board is unplugged")
                del _UNPLUGGED[self._port]
                server.reboot()  # type: ignore[attr-defined]
                server.unplug_pending = False  # type: ignore[attr-defined]
            else:
                server = _build_server(self._port)
        self.server = server
        self._rx.clear()
        self._dead = False
        self.is_open = True

    def close(self) -> None:
        """Close the port (the board stays as it is only when it was unplugged)."""
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
        reply = self.server.feed(data)  # type: ignore[union-attr]
        with self._cond:
            self._rx += reply
            if self.server.unplug_pending:  # type: ignore[union-attr]
                self._unplug()
            self._cond.notify_all()
        return len(data)

    def _unplug(self) -> None:
        faults = self.server.faults  # type: ignore[union-attr]
        delay = faults.replug_s if faults is not None else 0.0
        back_at = float("inf") if delay is None else time.monotonic() + delay
        with _UNPLUGGED_LOCK:
            _UNPLUGGED[self._port] = (self.server, back_at)
        self._dead = True
        self._rx.clear()

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
