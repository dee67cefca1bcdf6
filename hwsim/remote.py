"""A board on a serial line (or ``socket://``, ``sim://``...) used as an ordinary :class:`hwsim.Device`.

``RemoteDevice(url)`` opens the port with ``serial.serial_for_url``, says HELLO, checks the
protocol version and schema hash, and builds :attr:`info` from the board's capabilities. Requests
are stop-and-wait with a sequence number and bounded retransmissions (the board's reply cache
makes them safe). A port that vanishes is reopened and the board re-identified; parameters set
earlier are sent again before the interrupted request is repeated.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import serial

from hwsim.device import Device
from hwsim.errors import ConfigError, HwsimError, NotSupportedError
from hwsim.protocol.errors import (DeviceUnplugged, FrameError, LinkError, LinkTimeout, PortOpenError, RequestError,
                                   SchemaMismatch, VersionMismatch)
from hwsim.protocol.frame import FLAG_RETRANSMIT, VERSION, Frame, FrameReader, encode_frame, encoded_size
from hwsim.protocol.messages import (MsgType, Status, decode_hello, decode_params, decode_ping_reply, decode_samples,
                                     encode_params, encode_samples, info_from_capabilities, raise_for_status,
                                     sample_bytes)
from hwsim.protocol.pacing import line_seconds
from hwsim.protocol.port_io import PortIO

if "hwsim.urlhandler" not in serial.protocol_handler_packages:
    serial.protocol_handler_packages.append("hwsim.urlhandler")

_MALFORMED = object()
_SERIAL_ERRORS = (serial.SerialException, OSError)


@dataclass(frozen=True)
class PingReply:
    """What a PING tells: board uptime, measurements since its power-on, and the round-trip time."""

    uptime_ms: int
    measurements: int
    rtt_s: float


class RemoteDevice(Device):
    """A protocol-v1 board at ``url``, measured like any in-process device.

    ``timeout``: seconds without a byte from the board before a request is resent (it must cover
    the board's own measuring time); ``retries``: resends before :class:`LinkTimeout`;
    ``heartbeat_s``: PING after this much idle time (None: no heartbeat); ``reconnect_timeout_s``:
    how long to keep reopening a vanished port before :class:`DeviceUnplugged`; ``baudrate``: set
    on real serial ports; ``verify_schema=False`` accepts a board whose schema hash is wrong
    (only for ``hwsim probe --schema-hash``).
    """

    def __init__(self, url: str, timeout: float = 1.0, retries: int = 3, heartbeat_s: float | None = None,
                 reconnect_timeout_s: float = 5.0, baudrate: int | None = None, verify_schema: bool = True) -> None:
        super().__init__()
        if timeout <= 0 or retries < 0:
            raise ConfigError(f"timeout must be > 0 and retries >= 0 (got timeout={timeout}, retries={retries})")
        self.url = str(url)
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.heartbeat_s = heartbeat_s
        self.reconnect_timeout_s = float(reconnect_timeout_s)
        self.baudrate = baudrate
        self.verify_schema = verify_schema
        self.stats: Counter[str] = Counter()
        self.capabilities: dict[str, Any] = {}
        self.max_payload = 0
        self.last_heartbeat_error: HwsimError | None = None
        self._lock = threading.RLock()
        self._ser: serial.SerialBase | None = None
        self._reader = FrameReader()
        self._seq = 0
        self._params_set: dict[str, np.ndarray] = {}
        self._last_io = time.monotonic()
        self._poll_s = min(self.timeout, 0.05)
        self._open_port()
        try:
            self._handshake(first=True)
        except BaseException:
            self._close_port()
            raise
        self._hb_stop = threading.Event()
        self._hb_thread: threading.Thread | None = None
        if heartbeat_s:
            self._hb_thread = threading.Thread(target=self._heartbeat_loop, name="hwsim-heartbeat", daemon=True)
            self._hb_thread.start()

    # -- port ------------------------------------------------------------------------------------------
    def _open_port(self) -> None:
        try:
            ser = serial.serial_for_url(self.url, do_not_open=True)
            if self.baudrate:
                ser.baudrate = self.baudrate
            ser.timeout = self._poll_s
            ser.write_timeout = self.timeout + 5.0
            ser.open()
            ser.reset_input_buffer()
        except (ValueError, *_SERIAL_ERRORS) as exc:
            raise PortOpenError(f"cannot open serial port '{self.url}': {exc}; check the path or URL, that the "
                                "board (or 'hwsim serve') is running, and permissions (dialout group)") from exc
        self._ser = ser
        self._io = PortIO(ser)
        self._reader = FrameReader(max_frame=encoded_size(1 << 24))

    def _close_port(self) -> None:
        ser, self._ser = self._ser, None
        if ser is not None:
            try:
                ser.close()
            except _SERIAL_ERRORS:
                pass

    # -- one request -----------------------------------------------------------------------------------
    def _await(self, seq: int, mtype: int, hard_deadline: float) -> Frame | object | None:
        """The response to (seq, mtype), ``_MALFORMED`` after a broken frame, or None on timeout."""
        ser = self._ser
        assert ser is not None
        reader = self._reader
        io = self._io
        poll = self._poll_s
        last_byte = time.monotonic()
        while True:
            now = time.monotonic()
            if now - last_byte >= self.timeout or now >= hard_deadline:
                return None
            chunk = io.read_some(poll)
            if not chunk:
                continue
            last_byte = time.monotonic()
            malformed = False
            for item in reader.feed(chunk):
                if isinstance(item, FrameError):
                    malformed = True
                elif item.is_response and item.seq == seq and item.type == mtype:
                    return item
                else:
                    self.stats["stale"] += 1
            if malformed:
                self.stats["malformed"] += 1
                return _MALFORMED

    def _transact(self, mtype: int, body: bytes, what: str, reply_len: int = 64, reconnect: bool = True) -> bytes:
        """Send one request and return the OK reply body, retrying, reconnecting or raising as the protocol says."""
        with self._lock:
            self._seq = (self._seq + 1) & 0xFFFF
            request = Frame(type=mtype, seq=self._seq, body=body)
            wire = encode_frame(request)
            resend = b""
            attempts = reconnects = 0
            fresh = True
            while True:
                if self._ser is None:
                    if not reconnect:
                        raise DeviceUnplugged(f"port '{self.url}' is closed")
                    self._reconnect(None)
                    fresh = True
                ser = self._ser
                assert ser is not None
                baud = getattr(ser, "baudrate", None) or 9600
                hard = self.timeout + line_seconds(len(wire) + encoded_size(reply_len), baud)
                if not fresh and not resend:
                    resend = encode_frame(replace(request, flags=FLAG_RETRANSMIT))
                try:
                    self._io.write(wire if fresh else resend, ser.write_timeout)
                    reply = self._await(request.seq, mtype, time.monotonic() + hard)
                except serial.SerialTimeoutException:
                    reply = None
                except _SERIAL_ERRORS as exc:
                    self._close_port()
                    if not reconnect:
                        raise DeviceUnplugged(f"lost '{self.url}' during {what}: {exc}") from exc
                    reconnects += 1
                    if reconnects > self.retries + 1:
                        raise DeviceUnplugged(f"'{self.url}' dropped {reconnects} times during {what}; "
                                              "check the cable and power") from exc
                    self._reconnect(exc)
                    fresh = True
                    continue
                fresh = False
                if reply is None or reply is _MALFORMED:
                    self.stats["timeouts" if reply is None else "bad_replies"] += 1
                    attempts += 1
                    if attempts > self.retries:
                        raise LinkTimeout(f"no valid reply from '{self.url}' to {what} after {attempts} tries "
                                          f"({self.timeout:g} s timeout each); is the board running and speaking "
                                          "protocol v1 at the right baud rate?")
                    self.stats["retransmits"] += 1
                    continue
                assert isinstance(reply, Frame)
                if reply.version != VERSION:
                    raise VersionMismatch(f"board at '{self.url}' answered with protocol version {reply.version}; "
                                          f"this host speaks {VERSION}: update hwsim or the firmware")
                if reply.status == Status.OK:
                    self._last_io = time.monotonic()
                    return reply.body
                if reply.status == Status.ERR_BUSY and attempts < self.retries:
                    attempts += 1
                    self.stats["busy"] += 1
                    self.stats["retransmits"] += 1
                    time.sleep(min(0.05, self.timeout / 4) * attempts)
                    continue
                raise_for_status(reply.status, reply.body, what)

    # -- handshake and reconnection --------------------------------------------------------------------
    def _handshake(self, first: bool) -> None:
        caps = decode_hello(self._transact(MsgType.HELLO, b"", "HELLO", reply_len=4096, reconnect=False))
        if caps.get("protocol") != VERSION:
            raise VersionMismatch(f"board at '{self.url}' declares protocol {caps.get('protocol')!r}; this host "
                                  f"speaks {VERSION}: update hwsim or the firmware")
        info = info_from_capabilities(caps)
        declared, computed = caps.get("schema_hash"), info.schema_hash()
        if self.verify_schema and declared != computed:
            raise SchemaMismatch(f"board at '{self.url}' declares schema hash {declared!r} but its declared fields "
                                 f"hash to {computed!r}; fix the firmware constant (hwsim probe URL --schema-hash)")
        if not first:
            if info.serial_number != self.info.serial_number or computed != self.info.schema_hash():
                raise SchemaMismatch(
                    f"after reconnecting, '{self.url}' is a different board (serial {info.serial_number}, schema "
                    f"{computed}; was {self.info.serial_number}, {self.info.schema_hash()}); refusing to continue: "
                    "open a new RemoteDevice")
        try:
            max_payload = int(caps["max_payload"])
        except (KeyError, TypeError, ValueError) as exc:
            raise FrameError(f"HELLO capabilities lack a valid 'max_payload': {exc}") from exc
        self.capabilities = caps
        self.max_payload = max_payload
        if first:
            self.info = info

    def _reconnect(self, cause: BaseException | None) -> None:
        """Reopen the same URL until the board answers HELLO as the same board; restore parameters."""
        self.stats["reconnects"] += 1
        self._close_port()
        deadline = time.monotonic() + self.reconnect_timeout_s
        last: BaseException | None = cause
        while True:
            try:
                self._open_port()
                self._handshake(first=False)
                if self._params_set:
                    self._transact(MsgType.SET_PARAMS, encode_params(self._params_set), "SET_PARAMS (restore)",
                                   reconnect=False)
                return
            except (SchemaMismatch, VersionMismatch):
                self._close_port()
                raise
            except (LinkError, FrameError, *_SERIAL_ERRORS) as exc:
                last = exc
                self._close_port()
            if time.monotonic() >= deadline:
                raise DeviceUnplugged(f"board at '{self.url}' went away ({cause}) and did not answer again within "
                                      f"{self.reconnect_timeout_s:g} s (last error: {last}); check the cable and "
                                      "power, then open a new RemoteDevice") from last
            time.sleep(0.02)

    # -- heartbeat ----------------------------------------------------------------------------------------
    def _heartbeat_loop(self) -> None:
        period = float(self.heartbeat_s or 1.0)
        while not self._hb_stop.wait(period / 4):
            if time.monotonic() - self._last_io < period or not self._lock.acquire(blocking=False):
                continue
            try:
                try:
                    self.ping()
                except LinkTimeout as exc:
                    self._reconnect(exc)
                self.stats["heartbeats"] += 1
            except HwsimError as exc:  # the next request reconnects (or raises) in the caller's thread
                self.last_heartbeat_error = exc
                self._close_port()
            finally:
                self._lock.release()

    # -- Device API --------------------------------------------------------------------------------------
    def _measure(self, x: np.ndarray) -> np.ndarray:
        info = self.info
        in_per = sample_bytes(info.input_shape, info.dac_bits)
        out_per = sample_bytes(info.output_shape, info.adc_bits)
        per_frame = min(int(info.max_batch), (self.max_payload - 4) // in_per, (self.max_payload - 4) // out_per)
        if per_frame < 1:
            raise NotSupportedError(f"board max_payload {self.max_payload} B cannot carry one sample "
                                    f"({in_per} B in, {out_per} B out); rebuild the firmware with a larger buffer")
        outs = []
        for start in range(0, x.shape[0], per_frame):
            chunk = x[start:start + per_frame]
            n = chunk.shape[0]
            body = self._transact(MsgType.MEASURE, encode_samples(chunk, info.input_range, info.dac_bits),
                                  f"MEASURE of {n} samples", reply_len=4 + n * out_per)
            try:
                y = decode_samples(body, info.output_shape, info.output_range, info.adc_bits)
            except RequestError as exc:
                raise FrameError(f"board sent an invalid measurement: {exc}") from exc
            if y.shape[0] != n:
                raise FrameError(f"board returned {y.shape[0]} samples for a MEASURE of {n}")
            outs.append(y)
        if not outs:
            return np.zeros((0, *info.output_shape), dtype=np.float32)
        return outs[0] if len(outs) == 1 else np.concatenate(outs, axis=0)

    def _set_params(self, params: dict[str, np.ndarray]) -> None:
        self._transact(MsgType.SET_PARAMS, encode_params(params), f"SET_PARAMS {sorted(params)}")
        with self._lock:
            self._params_set.update({k: v.copy() for k, v in params.items()})

    def _get_params(self) -> dict[str, np.ndarray]:
        block = decode_params(self._transact(MsgType.GET_PARAMS, b"", "GET_PARAMS",
                                             reply_len=16 + sum(8 + 4 * int(np.prod(s)) for s in self.info.params.values())))
        out = {}
        for name, shape in self.info.params.items():
            if name not in block or block[name].size != int(np.prod(shape)):
                raise FrameError(f"GET_PARAMS reply lacks parameter '{name}' of shape {tuple(shape)}")
            out[name] = block[name].reshape(shape)
        return out

    def ping(self, payload: bytes = b"") -> PingReply:
        """Round trip a PING; returns the board's uptime, its measurement count and the round-trip time."""
        t0 = time.perf_counter()
        body = self._transact(MsgType.PING, bytes(payload), "PING", reply_len=8 + len(payload))
        rtt = time.perf_counter() - t0
        uptime, count, echo = decode_ping_reply(body)
        if echo != bytes(payload):
            raise FrameError("PING reply does not echo the request's bytes")
        return PingReply(uptime_ms=uptime, measurements=count, rtt_s=rtt)

    @property
    def handshake(self) -> dict[str, Any]:
        """The board's HELLO capabilities (for run records and ``hwsim probe``)."""
        return dict(self.capabilities)

    def close(self) -> None:
        """Stop the heartbeat and close the port."""
        if getattr(self, "_hb_thread", None) is not None:
            self._hb_stop.set()
            self._hb_thread.join(timeout=self.timeout * (self.retries + 2) + self.reconnect_timeout_s)  # type: ignore[union-attr]
        with self._lock:
            self._close_port()
        super().close()

