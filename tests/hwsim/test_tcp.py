"""Issue 12, acceptance 3: the TCP board serves one host at a time, drops silent ones, and can demand a secret."""

from __future__ import annotations

import os
import socket
import time
from typing import Iterator

import numpy as np
import pytest

from hwsim.cli import main
from hwsim.errors import ConfigError
from hwsim.protocol.auth import SECRET_ENV, host_proof
from hwsim.protocol.errors import AuthError, BoardInUse
from hwsim.protocol.frame import Frame, FrameReader, encode_frame
from hwsim.protocol.hello import decode_hello
from hwsim.protocol.messages import MsgType, Status, encode_params, encode_samples
from hwsim.reference import ReferenceDevice
from hwsim.remote import RemoteDevice
from hwsim.server import DeviceServer, ServedProcess
from tests.hwsim.boards import inputs, twin
from tests.hwsim.hostile import MARGIN_S

SECRET = b"0123456789abcdef-a-lab-secret"


class RawHost:
    """A TCP client speaking raw frames (what a hostile or careless program on the network does)."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("socket://").rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=5)
        self.reader = FrameReader()

    def send(self, frame: Frame | bytes) -> None:
        self.sock.sendall(frame if isinstance(frame, bytes) else encode_frame(frame))

    def frames(self, timeout: float = 3.0) -> Iterator[Frame]:
        """Frames from the board until it closes the connection or ``timeout`` passes."""
        self.sock.settimeout(timeout)
        while True:
            try:
                data = self.sock.recv(1 << 16)
            except (TimeoutError, ConnectionResetError):
                return
            if not data:
                return
            yield from (f for f in self.reader.feed(data) if isinstance(f, Frame))

    def request(self, frame: Frame) -> Frame:
        self.send(frame)
        return next(self.frames())

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def tcp_board() -> Iterator:
    servers: list[DeviceServer] = []

    def make(idle_timeout_s: float | None = 5.0, **kwargs: object) -> DeviceServer:
        server = DeviceServer(ReferenceDevice(seed=0), **kwargs)  # type: ignore[arg-type]
        server.serve_tcp(idle_timeout_s=idle_timeout_s)
        servers.append(server)
        return server

    yield make
    for s in servers:
        s.stop()


@pytest.fixture
def secret_file(tmp_path) -> str:
    path = tmp_path / "board.secret"
    path.write_bytes(SECRET + b"\n")
    path.chmod(0o600)
    return str(path)


@pytest.mark.timeout(30)
def test_a_silent_client_is_dropped_after_the_idle_timeout(tcp_board) -> None:
    server = tcp_board(idle_timeout_s=0.3)
    silent = RawHost(server.url)
    t0 = time.monotonic()
    notices = list(silent.frames(timeout=5.0))  # the board closes the connection: the iteration ends
    took = time.monotonic() - t0
    assert 0.3 <= took <= 0.3 + MARGIN_S
    assert [(f.status, f.type, f.seq) for f in notices] == [(Status.ERR_IDLE, 0, 0)]
    assert b"idle timeout" in notices[0].body and server.stats["idle_drops"] == 1
    silent.close()
    with RemoteDevice(server.url) as dev:  # the board is free again
        np.testing.assert_array_equal(dev.measure(inputs(3)), twin().measure(inputs(3)))


@pytest.mark.timeout(30)
def test_a_second_host_is_told_the_board_is_busy(tcp_board, capsys) -> None:
    server = tcp_board()
    with RemoteDevice(server.url) as first:
        t0 = time.monotonic()
        with pytest.raises(BoardInUse, match="board busy: another host holds it"):
            RemoteDevice(server.url)
        assert time.monotonic() - t0 < 1.0 + MARGIN_S  # answered at once, not after retries
        assert main(["probe", server.url]) == 2
        assert "board busy: another host holds it" in capsys.readouterr().err
        first.measure(inputs(2))  # the holder is undisturbed
    assert server.stats["refused_hosts"] == 2
    with RemoteDevice(server.url) as second:  # once the first host is gone, the next one gets the board
        assert second.ping().measurements == 2


@pytest.mark.timeout(30)
def test_a_host_dropped_for_idleness_reconnects_or_says_why_it_cannot(tcp_board) -> None:
    server = tcp_board(idle_timeout_s=0.3)
    gain = np.full(16, 0.5, np.float32)
    truth = twin()
    truth.set_params({"gain": gain})
    with RemoteDevice(server.url) as dev:
        dev.set_params({"gain": gain})
        time.sleep(0.6)
        np.testing.assert_array_equal(dev.measure(inputs(2)), truth.measure(inputs(2)))  # transparent
        assert dev.stats["idle_drops"] == 1 and dev.stats["reconnects"] == 1
        time.sleep(0.6)  # dropped again, and this time another host takes the board (its heartbeat holds it)
        with RemoteDevice(server.url, heartbeat_s=0.05) as other:
            with pytest.raises(BoardInUse, match=r"dropped this host \(idle timeout.*another host took it"):
                dev.measure(inputs(2))
            other.ping()


@pytest.mark.timeout(30)
def test_a_previous_clients_leftover_bytes_cost_the_next_nothing(tcp_board) -> None:
    server = tcp_board()
    half = encode_frame(Frame(MsgType.HELLO, 1))
    messy = RawHost(server.url)
    messy.send(half[: len(half) // 2])
    messy.close()
    time.sleep(0.2)
    clean = RawHost(server.url)
    reply = clean.request(Frame(MsgType.PING, 7, b"x"))  # no leading delimiter: the new session starts clean
    assert (reply.status, reply.seq) == (Status.OK, 7) and server.stats["malformed"] == 0
    clean.close()


@pytest.mark.timeout(30)
def test_with_a_secret_a_host_without_it_cannot_measure_or_set_parameters(tcp_board, secret_file, monkeypatch) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    server = tcp_board(secret=SECRET)
    with pytest.raises(AuthError, match="requires a shared secret"):
        RemoteDevice(server.url)
    raw = RawHost(server.url)
    hello = raw.request(Frame(MsgType.HELLO, 1))
    challenge = bytes.fromhex(decode_hello(hello.body)["auth"]["challenge"])
    refused = [raw.request(Frame(MsgType.MEASURE, 2, encode_samples(inputs(1), (-1.0, 1.0), 12))),
               raw.request(Frame(MsgType.SET_PARAMS, 3, encode_params({"gain": np.zeros(16)}))),
               raw.request(Frame(MsgType.GET_PARAMS, 4))]
    assert [r.status for r in refused] == [Status.ERR_AUTH] * 3
    wrong = raw.request(Frame(MsgType.AUTH, 5, host_proof(b"not the secret at all", challenge, bytes(16))))
    assert wrong.status == Status.ERR_AUTH and b"wrong shared secret" in wrong.body
    replay = raw.request(Frame(MsgType.AUTH, 6, host_proof(SECRET, challenge, bytes(16))))
    assert replay.status == Status.ERR_AUTH  # one AUTH per challenge: the right proof is too late now
    raw.close()
    assert server.measurements == 0 and (server.device.get_params()["gain"] == 1.0).all()
    assert server.stats["unauthenticated"] == 3

    with RemoteDevice(server.url, secret_file=secret_file) as dev:  # the right secret works
        assert dev.stats["authenticated"] == 1 and "auth" in dev.handshake
        np.testing.assert_array_equal(dev.measure(inputs(4)), twin().measure(inputs(4)))
    monkeypatch.setenv(SECRET_ENV, secret_file)  # the environment variable names the file
    with RemoteDevice(server.url) as dev:
        dev.ping()


def test_secrets_come_from_private_files_and_a_board_must_prove_it_knows_one(tcp_board, secret_file, tmp_path,
                                                                              monkeypatch) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    loose = tmp_path / "loose.secret"
    loose.write_bytes(SECRET)
    loose.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        RemoteDevice("sim://reference", secret_file=str(loose))
    short = tmp_path / "short.secret"
    short.write_bytes(b"abc")
    short.chmod(0o600)
    with pytest.raises(ConfigError, match="needs 16 to 4096"):
        RemoteDevice("sim://reference", secret_file=str(short))
    plain = tcp_board()  # a board without a secret cannot prove anything: an explicit secret refuses it
    with pytest.raises(AuthError, match="does not ask for one"):
        RemoteDevice(plain.url, secret_file=secret_file)
    impostor = tcp_board(secret=b"a different secret, 32 bytes long")
    with pytest.raises(AuthError, match="wrong shared secret"):
        RemoteDevice(impostor.url, secret_file=secret_file)


@pytest.mark.timeout(90)
def test_hwsim_serve_with_a_secret_file_and_probe(secret_file, capsys, monkeypatch) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    with ServedProcess("reference?seed=5", "--tcp", "0", "--secret-file", secret_file, "--idle-timeout", "5") as srv:
        assert main(["probe", srv.url]) == 2
        assert "requires a shared secret" in capsys.readouterr().err
        assert main(["probe", srv.url, "--secret-file", secret_file]) == 0
        out = capsys.readouterr().out
        assert "REF-0005" in out and "authenticated: HMAC-SHA256" in out
    assert os.path.exists(secret_file)
