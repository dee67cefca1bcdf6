"""The board side of protocol v1, independent of any transport: bytes from the line in, reply bytes out.

:class:`Board` implements the board rules of docs/protocol.md: malformed frames are dropped
silently; the last reply is cached under the request's (seq, type, body CRC) so a retransmission
never measures twice; inputs beyond ``info.limits`` trip the interlock; devices that declare
``dac_bits``/``adc_bits`` exchange converter codes; with a shared secret every request but HELLO and
AUTH needs the HMAC handshake first. It keeps a board-side measurement counter (reported by PING)
and its power state: link faults (:class:`hwsim.faults.LinkFaults`) can unplug it, and it comes back
rebooted when its replug delay has passed (:meth:`plug_in`). Transports (pty, TCP, ``sim://``) only
carry bytes to :meth:`feed` and back, and call :meth:`new_session` when a new host connects.
"""

from __future__ import annotations

import math
import time
import zlib
from collections import Counter
from typing import Callable

import numpy as np

from hwsim.device import Device, DeviceInfo
from hwsim.errors import ConfigError, NotSupportedError, ShapeError, TransientDeviceError
from hwsim.faults import LinkFaults
from hwsim.nonideal import apply_profile
from hwsim.protocol.auth import board_answer, new_challenge
from hwsim.protocol.errors import (AuthError, FrameError, HelloError, InterlockError, RemoteDeviceError,
                                   RequestError)
from hwsim.protocol.frame import FLAG_RESPONSE, VERSION, Frame, FrameReader, encode_frame, encoded_size
from hwsim.protocol.hello import encode_hello, hello_capabilities, validate_capabilities
from hwsim.protocol.messages import (MsgType, Status, checked_param_values, decode_params, decode_samples,
                                     encode_params, encode_ping_reply, encode_samples, sample_bytes)
from hwsim.quantise import from_codes


def _max_abs(x: np.ndarray, limit: float) -> str | None:
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    return f"|input| reaches {peak:.6g}, above max_abs_input {limit:.6g}" if peak > limit else None


def _max_input(x: np.ndarray, limit: float) -> str | None:
    peak = float(np.max(x)) if x.size else -np.inf
    return f"input reaches {peak:.6g}, above max_input {limit:.6g}" if peak > limit else None


def _min_input(x: np.ndarray, limit: float) -> str | None:
    low = float(np.min(x)) if x.size else np.inf
    return f"input reaches {low:.6g}, below min_input {limit:.6g}" if low < limit else None


# limit name (as declared in DeviceInfo.limits) -> check returning a message when the input violates it
LIMIT_CHECKS: dict[str, Callable[[np.ndarray, float], str | None]] = {
    "max_abs_input": _max_abs,
    "max_input": _max_input,
    "min_input": _min_input,
}


def decoded_extremes(info: DeviceInfo) -> np.ndarray | None:
    """The smallest and largest input a MEASURE body can decode to (codes 0 and 2**dac_bits - 1, through
    the same decoder), or None for float32 samples, which can carry any value."""
    if info.dac_bits is None:
        return None
    return from_codes(np.array([0, (1 << info.dac_bits) - 1]), info.input_range, info.dac_bits)


def needed_limit_checks(info: DeviceInfo) -> list[tuple[str, Callable[[np.ndarray, float], str | None], float]]:
    """The declared limits an input decoded from the wire could violate, with their checks.

    Decoding is monotonic in the code, so a limit that both decoded extremes satisfy holds for every
    input the board can receive and need not be checked per request.
    """
    extremes = decoded_extremes(info)
    needed = []
    for name, limit in info.limits.items():
        check = LIMIT_CHECKS.get(name)
        if check is None:
            continue
        if extremes is not None and check(extremes, float(limit)) is None:
            continue
        needed.append((name, check, float(limit)))
    return needed


_TYPE_NAMES = {int(t): t.name for t in MsgType}

# exception raised by a handler or the device -> status of the reply
_STATUS_FOR: tuple[tuple[type[BaseException], Status], ...] = (
    (FrameError, Status.ERR_FRAME),
    (InterlockError, Status.ERR_INTERLOCK),
    (TransientDeviceError, Status.ERR_BUSY),
    (AuthError, Status.ERR_AUTH),
    (RequestError, Status.ERR_REQUEST),
    (ShapeError, Status.ERR_REQUEST),
    (NotSupportedError, Status.ERR_REQUEST),
)
_OPEN_TYPES = (MsgType.HELLO, MsgType.AUTH)  # what an unauthenticated host may send


class Board:
    """A simulated board: protocol v1 in front of ``device``.

    ``max_payload`` is the largest body the board accepts or sends; ``protocol_version`` is the
    version the board speaks (tests use another one to check the host's refusal); ``clock`` gives
    seconds for the uptime PING reports; ``secret`` (bytes, see :mod:`hwsim.protocol.auth`) makes
    the board demand the HMAC handshake; ``challenge_source`` draws each HELLO's challenge (tests fix
    it). The device's declared capabilities must pass the same HELLO schema a host checks.
    """

    def __init__(self, device: Device, faults: LinkFaults | None = None, max_payload: int = 65536,
                 protocol_version: int = VERSION, clock: Callable[[], float] = time.monotonic,
                 secret: bytes | None = None, challenge_source: Callable[[], bytes] = new_challenge) -> None:
        self.device = device
        self.info = device.info
        self.faults = faults
        self.max_payload = int(max_payload)
        self.protocol_version = int(protocol_version)
        try:
            validate_capabilities(hello_capabilities(self.info, self.max_payload, self.protocol_version))
        except HelloError as exc:
            raise ConfigError(f"device '{self.info.name}' cannot be served as a protocol-v1 board: {exc}") from exc
        self.secret = secret
        self._challenge_source = challenge_source
        self._clock = clock
        self._power_on = device.get_params() if self.info.params else {}
        self._reader = FrameReader(max_frame=encoded_size(2 * self.max_payload),
                                   mangle=faults.incoming if faults else None)
        self._cache: tuple[tuple[int, int, int], bytes] | None = None
        self._challenge: bytes | None = None
        self.authenticated = secret is None
        self._boot = clock()
        self.measurements = 0          # samples measured since power-on (what PING reports)
        self.total_measurements = 0    # samples measured over the board's lifetime
        self.requests = 0              # requests received over the lifetime (the unplug schedule counts these)
        self.reboots = 0
        self.sessions = 0
        self.stats: Counter[str] = Counter()
        self.unplugged = False
        self._down_until = 0.0
        self.unenforced_limits = sorted(set(self.info.limits) - set(LIMIT_CHECKS))
        self._limit_checks = needed_limit_checks(self.info)
        self._handlers: dict[int, Callable[[bytes], bytes]] = {
            MsgType.HELLO: self._hello, MsgType.MEASURE: self._measure, MsgType.SET_PARAMS: self._set_params,
            MsgType.GET_PARAMS: self._get_params, MsgType.PING: self._ping, MsgType.AUTH: self._auth,
        }

    # -- what the board declares ------------------------------------------------------------------------
    def capabilities(self) -> dict:
        """The HELLO capabilities this board declares (with the current challenge when it has a secret)."""
        return hello_capabilities(self.info, self.max_payload, self.protocol_version,
                                  challenge=self._challenge if self.secret is not None else None)

    # -- sessions and power ----------------------------------------------------------------------------
    def new_session(self) -> None:
        """A new host is on the line: forget partial frames, the reply cache and any authentication."""
        self._reader.reset()
        self._cache = None
        self._challenge = None
        self.authenticated = self.secret is None
        self.sessions += 1

    def _unplug(self) -> None:
        delay = self.faults.replug_s if self.faults is not None else 0.0
        self.unplugged = True
        self._down_until = math.inf if delay is None else time.monotonic() + delay
        self._reader.reset()
        self.stats["unplugs"] += 1

    def replug_in(self) -> float:
        """Seconds until an unplugged board can be plugged back (0 when it is plugged; inf: never)."""
        return max(0.0, self._down_until - time.monotonic()) if self.unplugged else 0.0

    def plug_in(self) -> bool:
        """Plug the board back if its replug delay has passed (it reboots); False while it must stay out."""
        if not self.unplugged:
            return True
        if self.replug_in() > 0:
            return False
        self.unplugged = False
        self.reboot()
        return True

    def reboot(self) -> None:
        """Power-cycle the board: parameters back to power-on values, cache, session, counter and uptime reset."""
        if self._power_on:
            self.device.set_params(self._power_on)
        self.new_session()
        self.measurements = 0
        self._boot = self._clock()
        self.reboots += 1

    # -- bytes in, bytes out ---------------------------------------------------------------------------
    def feed(self, data: bytes) -> bytes:
        """Consume bytes from the line; return the reply bytes to send back (faults applied).

        When the fault schedule unplugs the board, the rest of ``data`` is lost and :attr:`unplugged`
        is set; an unplugged board hears nothing until :meth:`plug_in`.
        """
        if self.unplugged:
            return b""
        out = []
        for item in self._reader.feed(data):
            if isinstance(item, FrameError):
                self.stats["malformed"] += 1
                continue
            if item.is_response:
                self.stats["ignored_response"] += 1
                continue
            self.requests += 1
            if self.faults is not None and self.faults.unplug_now(self.requests, item.is_retransmit):
                self._unplug()
                break
            reply = self.handle(item)
            if self.faults is not None:
                reply = self.faults.outgoing(reply)
            out.append(reply)
        return b"".join(out)

    def handle(self, frame: Frame) -> bytes:
        """Execute one well-formed request; return the encoded response frame (no faults)."""
        if frame.version != self.protocol_version:
            return self._reply(frame, Status.ERR_VERSION,
                               f"board speaks protocol {self.protocol_version}, request is version {frame.version}")
        key = (frame.seq, frame.type, zlib.crc32(frame.body))
        cached = self._cache is not None and self._cache[0] == key
        if frame.type == MsgType.HELLO and not (cached and frame.is_retransmit):
            self._cache = None  # a new HELLO starts over; only its retransmission is answered from the cache
        elif not self.authenticated and frame.type not in _OPEN_TYPES:
            self.stats["unauthenticated"] += 1
            return self._reply(frame, Status.ERR_AUTH, "authentication required: this board has a shared secret; "
                                                       "say HELLO, then AUTH with the HMAC of its challenge")
        elif cached:
            self.stats["cache_hits"] += 1
            return self._cache[1]  # type: ignore[index]
        handler = self._handlers.get(frame.type)
        if handler is None:
            wire = self._reply(frame, Status.ERR_TYPE, f"unknown message type 0x{frame.type:02x}")
        elif len(frame.body) > self.max_payload:
            wire = self._reply(frame, Status.ERR_TOO_LARGE,
                               f"body of {len(frame.body)} bytes is over max_payload {self.max_payload}")
        else:
            self.stats[_TYPE_NAMES[frame.type]] += 1
            try:
                wire = self._reply(frame, Status.OK, handler(frame.body))
            except Exception as exc:  # noqa: BLE001 - the board reports every failure as a status, never crashes
                status = next((s for cls, s in _STATUS_FOR if isinstance(exc, cls)), Status.ERR_DEVICE)
                self.stats[status.name] += 1
                wire = self._reply(frame, status, str(exc) or type(exc).__name__)
                if status == Status.ERR_BUSY:
                    return wire  # never cached: the retry must reach the device
        self._cache = (key, wire)
        return wire

    def _reply(self, req: Frame, status: Status, body: bytes | str) -> bytes:
        raw = body.encode("utf-8") if isinstance(body, str) else body
        return encode_frame(Frame(type=req.type, seq=req.seq, body=raw, flags=FLAG_RESPONSE, status=int(status),
                                  version=self.protocol_version))

    def locked_reply(self, request: Frame, held_s: float) -> bytes:
        """The ERR_LOCKED answer a transport serving one host at a time gives another host's ``request``."""
        self.stats["refused_hosts"] += 1
        return self._reply(request, Status.ERR_LOCKED,
                           f"board busy: another host holds it (connected {held_s:.0f} s ago); try again later")

    def idle_notice(self, idle_s: float) -> bytes:
        """The unsolicited ERR_IDLE frame (type 0, seq 0) a transport sends before it drops a silent host."""
        return self._reply(Frame(type=0, seq=0), Status.ERR_IDLE,
                           f"idle timeout: no request for {idle_s:g} s; the board dropped this connection")

    # -- handlers ------------------------------------------------------------------------------------------
    def _hello(self, body: bytes) -> bytes:
        self.authenticated = self.secret is None
        self._challenge = self._challenge_source() if self.secret is not None else None
        return encode_hello(self.capabilities())

    def _auth(self, body: bytes) -> bytes:
        if self.secret is None:
            raise RequestError("this board has no shared secret; AUTH is not needed")
        challenge, self._challenge = self._challenge, None  # one try per challenge
        if challenge is None:
            raise AuthError("no challenge to answer: say HELLO first (each challenge allows one AUTH)")
        proof = board_answer(self.secret, challenge, body)
        self.authenticated = True
        self.stats["authenticated"] += 1
        return proof

    def _measure(self, body: bytes) -> bytes:
        info = self.info
        x = decode_samples(body, info.input_shape, info.input_range, info.dac_bits)
        n = x.shape[0]
        if n > info.max_batch:
            raise RequestError(f"batch of {n} is over max_batch {info.max_batch}")
        reply_len = 4 + n * sample_bytes(info.output_shape, info.adc_bits)
        if reply_len > self.max_payload:
            raise RequestError(f"reply of {reply_len} bytes would be over max_payload {self.max_payload}")
        for _, check, limit in self._limit_checks:
            problem = check(x, limit)
            if problem:
                raise InterlockError(f"interlock: {problem}; nothing was driven")
        y = self.device.measure(x)
        if info.adc_bits is not None and not np.isfinite(y).all():
            raise RemoteDeviceError("device returned NaN or inf; the ADC reading is invalid")
        self.measurements += n
        self.total_measurements += n
        return encode_samples(y, info.output_range, info.adc_bits)

    def _set_params(self, body: bytes) -> bytes:
        params = decode_params(body)
        shaped = {}
        for name, values in params.items():
            if name not in self.info.params:
                raise RequestError(f"unknown parameter '{name}'; the board has {sorted(self.info.params)}")
            shape = tuple(self.info.params[name])
            if values.size != math.prod(shape):
                raise RequestError(f"parameter '{name}' needs {math.prod(shape)} values, got {values.size}")
            shaped[name] = checked_param_values(name, values).reshape(shape)
        if shaped:
            self.device.set_params(shaped)
        return b""

    def _get_params(self, body: bytes) -> bytes:
        if not self.info.params:
            return encode_params({})
        current = self.device.get_params()
        return encode_params({name: current[name] for name in self.info.params})

    def _ping(self, body: bytes) -> bytes:
        uptime_ms = int(round((self._clock() - self._boot) * 1000.0))
        return encode_ping_reply(uptime_ms, self.measurements, body)


def in_process_twin(device: Device, seed: int = 0) -> Device:
    """The in-process device a host talking to a board that serves ``device`` must agree with exactly:
    ``device`` under the ``ideal`` non-ideality profile (DAC/ADC quantisation at the declared bits)."""
    return apply_profile(device, "ideal", seed=seed)
