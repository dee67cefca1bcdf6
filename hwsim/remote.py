"""A board on a serial line (or ``socket://``, ``sim://``...) used as an ordinary :class:`hwsim.Device`.

``RemoteDevice(url)`` opens the port with ``serial.serial_for_url``, says HELLO, holds the board's
capabilities to the protocol's schema, checks the protocol version and schema hash, answers the
board's HMAC challenge when it has a shared secret, and builds :attr:`info` from what the board
declared. Requests are stop-and-wait with a sequence number and bounded retransmissions (the board's
reply cache makes them safe), and every request ends within its budget (:meth:`budget_s`) whatever
the line does. A port that vanishes is reopened and the board re-identified before anything beyond
HELLO is written; parameters set earlier are sent again before the interrupted request is repeated.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any, Mapping

import numpy as np
import serial

from hwsim.device import Device
from hwsim.errors import ConfigError, HwsimError, NotSupportedError
from hwsim.protocol.auth import PROOF_BYTES, auth_request, check_board_proof, load_secret, secret_from_env
from hwsim.protocol.errors import (AuthError, BoardInUse, DeviceUnplugged, EchoingLine, FrameError, HelloError,
                                   IdleTimeout, LinkError, LinkTimeout, PortOpenError, RequestError, SchemaMismatch,
                                   VersionMismatch)
from hwsim.protocol.frame import FLAG_RETRANSMIT, VERSION, Frame, FrameReader, encode_frame, encoded_size
from hwsim.protocol.hello import HELLO_MAX_BYTES, decode_hello, validate_capabilities
from hwsim.protocol.messages import (MsgType, Status, board_text, checked_params, decode_params, decode_ping_reply,
                                     decode_samples, encode_params, encode_samples, raise_for_status, sample_bytes)
from hwsim.protocol.pacing import line_seconds
from hwsim.protocol.port_io import UNKNOWN_LINE_BAUD, PortIO, close_port, line_rate
from hwsim.protocol.pty_port import check_link
from hwsim.protocol.rto import RetransmitTimer

_MALFORMED = object()
_SERIAL_ERRORS = (serial.SerialException, OSError)
POLL_S = 0.05            # longest single wait for bytes; the implementation's slack on a budget
HELLO_REPLY_B = 4096     # reply size the HELLO budget allows for
ERROR_REPLY_B = 512      # room for a board's error text in every request's budget
MIN_RTO_S = 0.1          # shortest first-byte wait of the adaptive retransmission timer
_FATAL_ON_RECONNECT = (SchemaMismatch, VersionMismatch, HelloError, AuthError, BoardInUse)
_TRY_WORDS = {"silent": "heard nothing", "incomplete": "got bytes but no complete reply in time",
              "corrupted": "got a corrupted frame", "write": "could not send (the line took no bytes)"}


def request_budget_s(timeout: float, retries: int, request_body_b: int, reply_body_b: int,
                     baud: float = UNKNOWN_LINE_BAUD) -> float:
    """The longest one request may take on a link that never drops: ``(retries + 1) * (timeout + line
    time of the request frame and a reply frame of max(reply_body_b, 512) bytes at baud)``.

    A port that vanishes during the request adds at most ``reconnect_timeout_s`` once; the
    implementation may overrun by one poll interval (:data:`POLL_S`) plus the time of a write.
    """
    frames = encoded_size(request_body_b) + 1 + encoded_size(max(reply_body_b, ERROR_REPLY_B))
    return (retries + 1) * (timeout + line_seconds(frames, baud))


@dataclass(frozen=True)
class PingReply:
    """What a PING tells: board uptime, measurements since its power-on, and the round-trip time."""

    uptime_ms: int
    measurements: int
    rtt_s: float


class RemoteDevice(Device):
    """A protocol-v1 board at ``url``, measured like any in-process device.

    ``timeout``: the longest wait for a reply's first byte (it must cover the board's own measuring
    time) and for each later byte; with ``adaptive=True`` (default) the host resends sooner when the
    board's earlier replies came faster (:mod:`hwsim.protocol.rto`), so a corrupted request costs
    milliseconds, not ``timeout``. ``retries``: resends before :class:`LinkTimeout` (the default 10
    survives the documented fault rates: 5 % bit flips each way, 1 % drops and truncations, an unplug).
    ``heartbeat_s``: PING after this much idle time (None: no heartbeat; a TCP board drops a host that
    stays silent for its idle timeout, and the next request reconnects); ``reconnect_timeout_s``: how
    long to keep reopening a vanished port before :class:`DeviceUnplugged`; ``baudrate``: set on real
    serial ports (and used for the line-time part of the budget); ``verify_schema=False`` accepts a
    board whose schema hash is wrong (only for ``hwsim probe --schema-hash``). ``secret_file``: a file
    holding the board's shared secret (then the board must authenticate); without it the file named by
    ``HWSIM_SECRET_FILE`` is used when a board asks. ``allow_import`` lets a ``sim://module:Class`` URL
    import that class (never implied by the URL).
    """

    def __init__(self, url: str, timeout: float = 1.0, retries: int = 10, heartbeat_s: float | None = None,
                 reconnect_timeout_s: float = 5.0, baudrate: int | None = None, verify_schema: bool = True,
                 adaptive: bool = True, secret_file: str | None = None, allow_import: bool = False) -> None:
        super().__init__()
        if not timeout > 0 or retries < 0 or not reconnect_timeout_s >= 0 or (
                heartbeat_s is not None and not heartbeat_s > 0) or (baudrate is not None and not baudrate > 0):
            raise ConfigError("RemoteDevice needs timeout > 0, retries >= 0, reconnect_timeout_s >= 0, heartbeat_s "
                              f"> 0 or None and baudrate > 0 or None (got timeout={timeout}, retries={retries}, "
                              f"reconnect_timeout_s={reconnect_timeout_s}, heartbeat_s={heartbeat_s}, "
                              f"baudrate={baudrate})")
        self.url = str(url)
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.heartbeat_s = heartbeat_s
        self.reconnect_timeout_s = float(reconnect_timeout_s)
        self.baudrate = baudrate
        self.verify_schema = verify_schema
        self.allow_import = allow_import
        self._require_auth = secret_file is not None
        # without secret_file, the file named by HWSIM_SECRET_FILE is read when a board asks for a secret
        self._secret = load_secret(secret_file) if secret_file is not None else None
        self.stats: Counter[str] = Counter()
        self.capabilities: dict[str, Any] = {}
        self.max_payload = 0
        self.last_heartbeat_error: HwsimError | None = None
        self.timer = RetransmitTimer(self.timeout, MIN_RTO_S, adaptive)
        self._lock = threading.RLock()
        self._port: serial.SerialBase | None = None   # kept across reconnects: reopened, not rebuilt
        self._ser: serial.SerialBase | None = None    # the port while it is open
        self._reader = FrameReader()
        self._baud = float(UNKNOWN_LINE_BAUD)
        self._seq = 0
        self._params_set: dict[str, np.ndarray] = {}
        self._idle_notice: str | None = None
        self._last_io = time.monotonic()
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
        if "://" not in self.url:
            check_link(self.url)  # a link left by a crashed board server is refused before any byte is sent
        try:
            ser = self._port
            if ser is None:
                ser = serial.serial_for_url(self.url, do_not_open=True)
                if hasattr(type(ser), "allow_import"):
                    ser.allow_import = self.allow_import  # type: ignore[attr-defined]
                if self.baudrate:
                    ser.baudrate = self.baudrate
                ser.timeout = POLL_S
                self._port = ser
            ser.open()
            ser.reset_input_buffer()
        except HwsimError:
            raise
        except (ValueError, *_SERIAL_ERRORS) as exc:
            raise PortOpenError(f"cannot open serial port '{self.url}': {exc}; check the path or URL, that the "
                                "board (or 'hwsim serve') is running, and permissions (dialout group)") from exc
        self._ser = ser
        self._io = PortIO(ser)
        self._baud = line_rate(ser, self.baudrate)
        self._reader = FrameReader(max_frame=encoded_size(max(self.max_payload, HELLO_MAX_BYTES)))

    def _close_port(self) -> None:
        ser, self._ser = self._ser, None
        if ser is not None:
            close_port(ser)

    # -- budgets ---------------------------------------------------------------------------------------
    def budget_s(self, request_body_b: int, reply_body_b: int) -> float:
        """The most seconds a request with these body sizes takes while the port stays up (see
        :func:`request_budget_s`; the line time is at :attr:`line_baud`)."""
        return request_budget_s(self.timeout, self.retries, request_body_b, reply_body_b, self._baud)

    @property
    def line_baud(self) -> float:
        """The baud rate request line times are computed at (see :func:`hwsim.protocol.port_io.line_rate`)."""
        return self._baud

    # -- one request -----------------------------------------------------------------------------------
    def _await(self, request: Frame, first_by: float, gap: float, try_end: float) -> tuple[Any, float | None, str]:
        """(the response to ``request`` | ``_MALFORMED`` | None, time of the first byte, what went wrong)."""
        reader, io = self._reader, self._io
        first = last = None
        while True:
            now = time.monotonic()
            if now >= try_end or (last is None and now >= first_by) or (last is not None and now - last >= gap):
                return None, first, "silent" if first is None else "incomplete"
            chunk = io.read_some(min(POLL_S, max(1e-3, try_end - now)))
            if not chunk:
                continue
            last = time.monotonic()
            first = first or last
            malformed = False
            for item in reader.feed(chunk):
                if isinstance(item, FrameError):
                    malformed = True
                elif item.is_response and item.seq == request.seq and item.type == request.type:
                    return item, first, ""
                elif item.is_response and item.status == Status.ERR_IDLE:
                    self._idle_notice = board_text(item.body)
                elif not item.is_response and (item.seq, item.type) == (request.seq, request.type):
                    self.stats["echoes"] += 1
                else:
                    self.stats["stale"] += 1
            if malformed:
                self.stats["malformed"] += 1
                return _MALFORMED, first, "corrupted"

    def _give_up(self, what: str, tries: list[tuple[str, float]], echoes: int, started: float,
                 out_of_budget: bool) -> LinkTimeout:
        counts = Counter(kind for kind, _ in tries)
        parts = ", ".join(f"{n} {_TRY_WORDS[kind]}" for kind, n in counts.items())
        waits = [w for _, w in tries]
        span = f"{min(waits):.3g} s" if min(waits) == max(waits) else f"{min(waits):.3g} to {max(waits):.3g} s"
        elapsed = time.monotonic() - started
        if echoes and counts.keys() <= {"silent", "incomplete"}:
            return EchoingLine(f"'{self.url}' sent our own {what} back {echoes} times and nothing answered: the line "
                               "echoes (a loopback plug or TX wired to RX, a terminal in echo mode, or an RS-485 "
                               "adapter whose board is off); connect the board's TX to the host's RX")
        budget = " (its whole budget)" if out_of_budget else ""
        return LinkTimeout(f"no valid reply from '{self.url}' to {what} after {len(tries)} tries in {elapsed:.2f} s"
                           f"{budget}: {parts}; each try waited {span} for a first byte; is the board running and "
                           "speaking protocol v1 at the right baud rate?")

    def _transact(self, mtype: int, body: bytes, what: str, reply_len: int = 64, reconnect: bool = True,
                  deadline: float | None = None, lead: bytes = b"") -> bytes:
        """Send one request and return the OK reply body, retrying, reconnecting or raising as the protocol
        says, within the request's budget (and by ``deadline`` when given). ``lead`` goes before the first
        transmission on a freshly opened port (a delimiter before HELLO clears a stale partial frame)."""
        with self._lock:
            self._seq = (self._seq + 1) & 0xFFFF
            request = Frame(type=mtype, seq=self._seq, body=body)
            wire = encode_frame(request)
            resend = b""  # the RETRANSMIT copy, encoded when first needed
            reply_wire = encoded_size(max(reply_len, ERROR_REPLY_B))
            started = time.monotonic()
            end = started + self.budget_s(len(body), reply_len)
            if deadline is not None:
                end = min(end, deadline)
            self._reader.max_frame = max(self._reader.max_frame, encoded_size(reply_len))
            tries: list[tuple[str, float]] = []
            echoes0 = self.stats["echoes"]
            reconnect_until: float | None = None
            attempt = lost = 0  # tries used (timeouts, bad replies, BUSY); of them, tries whose reply was lost
            fresh = True
            while True:
                if self._ser is None:
                    if not reconnect:
                        raise DeviceUnplugged(f"port '{self.url}' is closed")
                    if reconnect_until is None:
                        reconnect_until = time.monotonic() + self.reconnect_timeout_s
                        end = end + self.reconnect_timeout_s if deadline is None else end
                    self._reconnect(None, min(reconnect_until, end))
                    fresh = True
                now = time.monotonic()
                if now >= end:
                    if tries:
                        raise self._give_up(what, tries, self.stats["echoes"] - echoes0, started, True)
                    raise LinkTimeout(f"{what} to '{self.url}' had no time left in its budget; nothing was sent")
                wait = self.timer.wait(lost)
                req_line = line_seconds(len(lead) + len(wire), self._baud)
                try_end = min(now + wait + req_line + line_seconds(reply_wire, self._baud), end)
                if not fresh and not resend:
                    resend = encode_frame(replace(request, flags=FLAG_RETRANSMIT))
                try:
                    self._io.write((lead + wire) if fresh else resend, try_end)
                    sent = time.monotonic()
                    reply, first, kind = self._await(request, min(sent + wait + req_line, try_end), wait, try_end)
                except serial.SerialTimeoutException:
                    reply, first, kind = None, None, "write"
                    sent = time.monotonic()
                except _SERIAL_ERRORS as exc:
                    self._close_port()
                    if not reconnect:
                        raise self._lost(what, exc) from exc
                    if reconnect_until is None:
                        reconnect_until = time.monotonic() + self.reconnect_timeout_s
                        end = end + self.reconnect_timeout_s if deadline is None else end
                    self._reconnect(exc, min(reconnect_until, end))
                    fresh = True
                    continue
                fresh = False
                lead = b""
                if reply is None or reply is _MALFORMED:
                    self.stats["timeouts" if reply is None else "bad_replies"] += 1
                    tries.append((kind, wait))
                    attempt += 1
                    lost += 1
                    if attempt > self.retries:
                        raise self._give_up(what, tries, self.stats["echoes"] - echoes0, started, False)
                    self.stats["retransmits"] += 1
                    continue
                assert isinstance(reply, Frame)
                self.timer.replied(lost, None if first is None else first - sent - req_line)
                if reply.version != VERSION:
                    raise VersionMismatch(f"board at '{self.url}' answered with protocol version {reply.version}; "
                                          f"this host speaks {VERSION}: update hwsim or the firmware")
                if reply.status == Status.OK:
                    self._last_io = time.monotonic()
                    return reply.body
                if reply.status == Status.ERR_BUSY and attempt < self.retries:
                    attempt += 1
                    self.stats["busy"] += 1
                    self.stats["retransmits"] += 1
                    pause = min(0.05, self.timeout / 4) * attempt
                    time.sleep(max(0.0, min(pause, end - time.monotonic())))
                    continue
                raise_for_status(reply.status, reply.body, what)

    def _lost(self, what: str, exc: BaseException) -> DeviceUnplugged:
        if self._idle_notice:
            return IdleTimeout(f"the board at '{self.url}' dropped this host during {what}: {self._idle_notice}")
        return DeviceUnplugged(f"lost '{self.url}' during {what}: {exc}")

    # -- handshake and reconnection --------------------------------------------------------------------
    def _handshake(self, first: bool, deadline: float | None = None) -> None:
        """HELLO (and AUTH when the board asks); on a reconnect, refuse a different board before anything else."""
        body = self._transact(MsgType.HELLO, b"", "HELLO", reply_len=HELLO_REPLY_B, reconnect=False,
                              deadline=deadline, lead=b"\x00")
        try:
            caps = decode_hello(body)
            protocol = caps.get("protocol")
            if protocol != VERSION:
                raise VersionMismatch(f"board at '{self.url}' declares protocol {repr(protocol)[:20]}; this host "
                                      f"speaks {VERSION}: update hwsim or the firmware")
            hello = validate_capabilities(caps)
        except HelloError as exc:
            raise HelloError(f"board at '{self.url}': {exc}; nothing beyond HELLO was sent") from exc
        info = hello.info
        declared, computed = caps.get("schema_hash"), info.schema_hash()
        if self.verify_schema and declared != computed:
            raise SchemaMismatch(f"board at '{self.url}' declares schema hash {declared!r} but its declared fields "
                                 f"hash to {computed!r}; fix the firmware constant (hwsim probe URL --schema-hash)")
        if not first and (info.serial_number != self.info.serial_number or computed != self.info.schema_hash()):
            raise SchemaMismatch(
                f"after reconnecting, '{self.url}' is a different board (serial {info.serial_number}, schema "
                f"{computed}; was {self.info.serial_number}, {self.info.schema_hash()}); nothing beyond HELLO was "
                "sent to it: open a new RemoteDevice")
        self._authenticate(hello.challenge, deadline)
        self.capabilities = dict(caps)
        self.max_payload = hello.max_payload
        self._reader.max_frame = encoded_size(max(hello.max_payload, HELLO_MAX_BYTES))
        if first:
            self.info = info

    def _authenticate(self, challenge: bytes | None, deadline: float | None) -> None:
        if challenge is None:
            if self._require_auth:
                raise AuthError(f"a shared secret was given, but the board at '{self.url}' does not ask for one; "
                                "refusing a board that cannot prove it knows the secret (drop secret_file to use it)")
            return
        if self._secret is None:
            self._secret = secret_from_env()
        if self._secret is None:
            raise AuthError(f"the board at '{self.url}' requires a shared secret (HMAC-SHA256 challenge in its "
                            "HELLO); pass secret_file=... (hwsim probe --secret-file) or set HWSIM_SECRET_FILE")
        body, expected = auth_request(self._secret, challenge)
        proof = self._transact(MsgType.AUTH, body, "AUTH", reply_len=PROOF_BYTES, reconnect=False, deadline=deadline)
        if not check_board_proof(expected, proof):
            raise AuthError(f"the board at '{self.url}' accepted AUTH but its proof is wrong: it does not know the "
                            "shared secret; refusing to use it")
        self.stats["authenticated"] += 1

    def _reconnect(self, cause: BaseException | None, until: float) -> None:
        """Reopen the same port until the board answers HELLO as the same board (by ``until``); restore parameters."""
        self.stats["reconnects"] += 1
        self._close_port()
        started = time.monotonic()
        last: BaseException | None = cause
        while True:
            try:
                self._open_port()
                self._handshake(first=False, deadline=until)
                if self._params_set:
                    self._transact(MsgType.SET_PARAMS, encode_params(self._params_set), "SET_PARAMS (restore)",
                                   reconnect=False, deadline=until)
                if self._idle_notice:
                    self.stats["idle_drops"] += 1
                    self._idle_notice = None
                return
            except BoardInUse as exc:
                self._close_port()
                if self._idle_notice:
                    raise BoardInUse(f"the board at '{self.url}' dropped this host ({self._idle_notice}) and another "
                                     f"host took it: {exc}; keep the link busy (heartbeat_s below the board's idle "
                                     "timeout) to hold the board") from exc
                raise
            except _FATAL_ON_RECONNECT:
                self._close_port()
                raise
            except (LinkError, FrameError, *_SERIAL_ERRORS) as exc:
                last = exc
                self._close_port()
            now = time.monotonic()
            if now >= until:
                why = f" ({cause})" if cause is not None else ""
                if self._idle_notice:
                    raise IdleTimeout(f"the board at '{self.url}' dropped this host ({self._idle_notice}) and did not "
                                      f"answer again within {now - started:.2f} s (last error: {last})") from last
                raise DeviceUnplugged(f"board at '{self.url}' went away{why} and did not answer again within "
                                      f"{now - started:.2f} s (last error: {last}); check the cable and power, then "
                                      "open a new RemoteDevice") from last
            time.sleep(min(0.02, until - now))

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
                    self._reconnect(exc, time.monotonic() + self.reconnect_timeout_s)
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

    def set_params(self, params: Mapping[str, Any]) -> None:
        """Write board parameters: a dict of name -> finite real values that fit float32, names and shapes
        as the board declared (anything else is refused here, before a byte is sent)."""
        super().set_params(checked_params(params))

    def _set_params(self, params: dict[str, np.ndarray]) -> None:
        self._transact(MsgType.SET_PARAMS, encode_params(params), f"SET_PARAMS {sorted(params)}")
        with self._lock:
            self._params_set.update({k: v.copy() for k, v in params.items()})

    def _get_params(self) -> dict[str, np.ndarray]:
        reply_len = 16 + sum(8 + 4 * int(np.prod(s)) for s in self.info.params.values())
        block = decode_params(self._transact(MsgType.GET_PARAMS, b"", "GET_PARAMS", reply_len=reply_len))
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
            self._hb_thread.join(timeout=self.budget_s(64, 64) + self.reconnect_timeout_s)  # type: ignore[union-attr]
        with self._lock:
            self._close_port()
        super().close()
