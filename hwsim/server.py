"""The board side of protocol v1: serve any Device over a pty, a TCP port, or in process (``sim://``).

:class:`DeviceServer` implements the board rules of docs/protocol.md: malformed frames are dropped
silently; the last reply is cached under the request's (seq, type, body CRC) so a retransmission
never measures twice; inputs beyond ``info.limits`` trip the interlock; devices that declare
``dac_bits``/``adc_bits`` exchange converter codes. It keeps a board-side measurement counter
(reported by PING) and can inject link faults (:class:`hwsim.faults.LinkFaults`).
"""

from __future__ import annotations

import os
import select
import socket
import threading
import time
import zlib
from collections import Counter
from typing import Callable

import numpy as np
import serial

from hwsim.device import Device, DeviceInfo
from hwsim.errors import ConfigError, NotSupportedError, ShapeError, TransientDeviceError
from hwsim.faults import LinkFaults
from hwsim.protocol.errors import FrameError, InterlockError, RemoteDeviceError, RequestError
from hwsim.protocol.frame import FLAG_RESPONSE, VERSION, Frame, FrameReader, encode_frame, encoded_size
from hwsim.protocol.messages import (MsgType, Status, decode_params, decode_samples, encode_hello, encode_params,
                                     encode_ping_reply, encode_samples, hello_capabilities, sample_bytes)
from hwsim.protocol.pacing import LinePacer
from hwsim.protocol.pty_port import PtyPort

if "hwsim.urlhandler" not in serial.protocol_handler_packages:
    serial.protocol_handler_packages.append("hwsim.urlhandler")


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
    from hwsim.quantise import from_codes

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
    (RequestError, Status.ERR_REQUEST),
    (ShapeError, Status.ERR_REQUEST),
    (NotSupportedError, Status.ERR_REQUEST),
)


class DeviceServer:
    """A simulated board: protocol v1 in front of ``device``.

    ``max_payload`` is the largest body the board accepts or sends; ``baud`` paces the pty/TCP
    transports like a UART (None: as fast as the transport goes); ``protocol_version`` is the
    version the board speaks (tests use another one to check the host's refusal); ``clock`` gives
    seconds for the uptime PING reports. ``spin_s``: after each reply the pty and TCP loops poll the
    line for this long before they sleep in ``select``, as a firmware main loop polls its UART, so a
    host measuring in a loop gets its next request served without a process wake-up (0: never poll;
    a board serving in the host's own process should not, it would hold the GIL).
    """

    def __init__(self, device: Device, faults: LinkFaults | None = None, max_payload: int = 65536,
                 baud: float | None = None, protocol_version: int = VERSION,
                 clock: Callable[[], float] = time.monotonic, spin_s: float = 0.0) -> None:
        if spin_s < 0:
            raise ConfigError(f"spin_s must be >= 0 seconds, got {spin_s}")
        self.spin_s = float(spin_s)
        self.device = device
        self.info = device.info
        self.faults = faults
        self.max_payload = int(max_payload)
        self.baud = baud
        self.protocol_version = int(protocol_version)
        self._clock = clock
        self._power_on = device.get_params() if self.info.params else {}
        self._reader = FrameReader(max_frame=encoded_size(2 * self.max_payload),
                                   mangle=faults.incoming if faults else None)
        self._cache: tuple[tuple[int, int, int], bytes] | None = None
        self._boot = clock()
        self.measurements = 0          # samples measured since power-on (what PING reports)
        self.total_measurements = 0    # samples measured over the board's lifetime
        self.requests = 0              # requests received over the lifetime (the unplug schedule counts these)
        self.reboots = 0
        self.stats: Counter[str] = Counter()
        self.unplug_pending = False
        self.unenforced_limits = sorted(set(self.info.limits) - set(LIMIT_CHECKS))
        self._limit_checks = needed_limit_checks(self.info)
        self._handlers: dict[int, Callable[[bytes], bytes]] = {
            MsgType.HELLO: self._hello, MsgType.MEASURE: self._measure, MsgType.SET_PARAMS: self._set_params,
            MsgType.GET_PARAMS: self._get_params, MsgType.PING: self._ping,
        }
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self._thread: threading.Thread | None = None
        self._port: PtyPort | None = None
        self._listener: socket.socket | None = None
        self.url = ""

    # -- board logic -------------------------------------------------------------------------------
    def capabilities(self) -> dict:
        """The HELLO capabilities this board declares."""
        return hello_capabilities(self.info, self.max_payload, self.protocol_version)

    def feed(self, data: bytes) -> bytes:
        """Consume bytes from the line; return the reply bytes to send back (faults applied).

        When the fault schedule unplugs the board, the rest of ``data`` is lost and
        :attr:`unplug_pending` is set; the transport then performs the unplug.
        """
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
                self.unplug_pending = True
                self._reader.reset()
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
        if frame.type == MsgType.HELLO:
            self._cache = None
        elif self._cache is not None and self._cache[0] == key:
            self.stats["cache_hits"] += 1
            return self._cache[1]
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
            except Exception as exc:  # the board reports every failure as a status, never crashes
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

    def _hello(self, body: bytes) -> bytes:
        return encode_hello(self.capabilities())

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
            if values.size != int(np.prod(shape, dtype=np.int64)):
                raise RequestError(f"parameter '{name}' needs {int(np.prod(shape))} values, got {values.size}")
            shaped[name] = values.reshape(shape)
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

    def reboot(self) -> None:
        """Power-cycle the board: parameters back to power-on values, cache, counter and uptime reset."""
        if self._power_on:
            self.device.set_params(self._power_on)
        self._cache = None
        self._reader.reset()
        self.measurements = 0
        self._boot = self._clock()
        self.reboots += 1

    # -- transports ----------------------------------------------------------------------------------
    def serve_pty(self, link: str | None = None, background: bool = True,
                  on_ready: Callable[[str], None] | None = None) -> str:
        """Serve on a new pty; returns the stable path (a symlink) a host opens as its serial port.

        With ``background=False`` this call runs the loop until :meth:`stop` (``on_ready`` gets the path first).
        """
        self._port = PtyPort(link)
        self.url = self._port.path
        return self._start(self._pty_loop, background, on_ready)

    def serve_tcp(self, host: str = "127.0.0.1", port: int = 0, background: bool = True,
                  on_ready: Callable[[str], None] | None = None) -> str:
        """Serve one client at a time on a TCP port (0 picks a free one); returns ``socket://host:port``."""
        self._listener = self._listen(host, port)
        bound_host, bound_port = self._listener.getsockname()[:2]
        self.url = f"socket://{bound_host}:{bound_port}"
        return self._start(self._tcp_loop, background, on_ready)

    def _start(self, loop: Callable[[], None], background: bool, on_ready: Callable[[str], None] | None) -> str:
        if self._thread is not None:
            raise ConfigError("this server is already serving; create another DeviceServer")
        if on_ready is not None:
            on_ready(self.url)
        if background:
            self._thread = threading.Thread(target=loop, name=f"hwsim-board {self.info.name}", daemon=True)
            self._thread.start()
        else:
            loop()
        return self.url

    def running(self) -> bool:
        """True while a background loop is serving."""
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the background loop ends or ``timeout`` passes; True while it still runs."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.running()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and release the pty or socket."""
        self._stop.set()
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        if self._port is not None:
            self._port.close()
            self._port = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._wake_r = self._wake_w = -1

    close = stop

    def __enter__(self) -> "DeviceServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _wait_readable(self, fd: int | socket.socket, timeout: float = 0.2) -> bool:
        ready, _, _ = select.select([fd, self._wake_r], [], [], timeout)
        if self._wake_r in ready:
            os.read(self._wake_r, 64)
        return fd in ready

    def _write_all(self, fd: int, data: bytes, give_up_s: float = 2.0) -> None:
        """Write to a non-blocking fd; bytes nobody reads within ``give_up_s`` are lost, like a UART's."""
        view = memoryview(data)
        deadline = time.monotonic() + give_up_s
        while view and not self._stop.is_set():
            try:
                n = os.write(fd, view)
                view = view[n:]
            except BlockingIOError:
                if time.monotonic() > deadline:
                    self.stats["tx_lost"] += 1
                    return
                select.select([], [fd], [], 0.05)

    def _exchange(self, chunk: bytes, pacer: LinePacer | None, write: Callable[[bytes], None]) -> None:
        if pacer is None:
            out = self.feed(chunk)
            if out:
                write(out)
            return
        arrived = pacer.arrival(len(chunk))
        t0 = time.perf_counter()
        out = self.feed(chunk)
        if out:  # the reply leaves once the request is in and the board has worked on it
            pacer.send(out, write, not_before=arrived + (time.perf_counter() - t0))

    def _replug_wait(self) -> bool:
        """Stay unplugged for the fault schedule's delay; False when stopped or never replugged."""
        delay = self.faults.replug_s if self.faults is not None else 0.0
        if delay is None:
            self._stop.wait()
            return False
        if self._stop.wait(delay):
            return False
        self.reboot()
        self.unplug_pending = False
        return True

    def _poll(self, read_now: Callable[[], bytes | None]) -> bytes | None:
        """Call the non-blocking ``read_now`` (None: nothing has arrived) until it returns bytes or
        ``spin_s`` has passed; None when nothing came."""
        end = time.perf_counter() + self.spin_s
        while not self._stop.is_set():
            data = read_now()
            if data is not None:
                return data
            if time.perf_counter() >= end:
                break
        return None

    def _pty_loop(self) -> None:
        port = self._port
        assert port is not None
        pacer = LinePacer(self.baud) if self.baud else None
        polled: bytes | None = None

        def read_now() -> bytes | None:
            try:
                return os.read(master, 1 << 16)  # type: ignore[arg-type]
            except OSError:  # nothing yet (EAGAIN), or trouble the blocking path below reports
                return None

        while not self._stop.is_set():
            master = port.master
            if master is None:
                self._stop.wait(0.01)
                continue
            chunk = polled
            polled = None
            if chunk is None:
                if not self._wait_readable(master):
                    continue
                try:
                    chunk = os.read(master, 1 << 16)
                except BlockingIOError:
                    continue
                except OSError:  # no reader on the slave side yet
                    time.sleep(0.01)
                    continue
            self._exchange(chunk, pacer, lambda b: self._write_all(master, b))
            if self.spin_s > 0 and not self.unplug_pending:
                polled = self._poll(read_now)
            if self.unplug_pending:
                port.unplug()
                if not self._replug_wait():
                    return
                port.plug()

    def _listen(self, host: str, port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            raise ConfigError(f"cannot listen on {host}:{port}: {exc}; pick another port (0 = any free one)") from exc
        sock.listen(1)
        return sock

    def _tcp_loop(self) -> None:
        pacer = LinePacer(self.baud) if self.baud else None
        while not self._stop.is_set():
            listener = self._listener
            if listener is None or not self._wait_readable(listener):
                continue
            conn, _ = listener.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.settimeout(2.0)
            with conn:
                self._serve_connection(conn, pacer)
            if self.unplug_pending:
                address = listener.getsockname()[:2]
                listener.close()
                self._listener = None
                if not self._replug_wait():
                    return
                self._listener = self._listen(*address)

    def _serve_connection(self, conn: socket.socket, pacer: LinePacer | None) -> None:
        def write(b: bytes) -> None:
            try:
                conn.sendall(b)
            except OSError:
                self.stats["tx_lost"] += 1

        def read_now() -> bytes | None:
            try:
                return conn.recv(1 << 16, socket.MSG_DONTWAIT)
            except OSError:  # nothing yet, or trouble the blocking path below reports
                return None

        polled: bytes | None = None
        while not self._stop.is_set():
            chunk = polled
            polled = None
            if chunk is None:
                if not self._wait_readable(conn):
                    continue
                try:
                    chunk = conn.recv(1 << 16)
                except OSError:
                    return
            if not chunk:
                return
            self._exchange(chunk, pacer, write)
            if self.spin_s > 0 and not self.unplug_pending:
                polled = self._poll(read_now)
            if self.unplug_pending:
                return


def in_process_twin(device: Device, seed: int = 0) -> Device:
    """The in-process device a host talking to a board that serves ``device`` must agree with exactly.

    That is ``device`` under the ``ideal`` non-ideality profile (DAC/ADC quantisation at the declared
    bits, nothing else), from :func:`hwsim.nonideal.apply_profile` when that module is present,
    otherwise the same quantisation done here directly.
    """
    try:
        from hwsim.nonideal import apply_profile
    except ImportError:
        return _IdealQuantised(device)
    return apply_profile(device, "ideal", seed=seed)


class _IdealQuantised(Device):
    """``quantise(device(quantise(x, dac)), adc)``: the ideal profile, written out."""

    def __init__(self, inner: Device) -> None:
        super().__init__()
        self.inner = inner
        self.info = inner.info

    def _measure(self, x: np.ndarray) -> np.ndarray:
        from hwsim.quantise import quantise

        i = self.info
        return quantise(self.inner.measure(quantise(x, i.input_range, i.dac_bits)), i.output_range, i.adc_bits)


class ServedProcess:
    """``hwsim serve`` running in a child process (so host and board do not share a GIL).

    Use as a context manager; :attr:`url` is the port path or ``socket://`` URL the child printed.
    """

    def __init__(self, spec: str, *options: str, ready_timeout: float = 60.0) -> None:
        import subprocess
        import sys

        cmd = [sys.executable, "-m", "hwsim.cli", "serve", spec, *options]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], ready_timeout)
        line = self.proc.stdout.readline().strip() if ready else ""  # type: ignore[union-attr]
        if not line:
            self.close()
            err = self.proc.stderr.read() if self.proc.stderr else ""  # type: ignore[union-attr]
            raise ConfigError(f"'{' '.join(cmd)}' printed no port within {ready_timeout:g} s: {err.strip()[-500:]}")
        self.url = line

    def close(self) -> None:
        """Stop the child (SIGTERM, then SIGKILL after 5 s)."""
        import subprocess

        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5.0)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> "ServedProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
