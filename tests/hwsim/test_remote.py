"""RemoteDevice against boards on a pty (a real `hwsim serve` subprocess and in-thread servers) and TCP."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hwsim.errors import ShapeError, TransientDeviceError
from hwsim.faults import LinkFaults
from hwsim.protocol.errors import (BoardBusy, InterlockError, LinkTimeout, PortOpenError, RemoteDeviceError,
                                   RequestError, SchemaMismatch, VersionMismatch)
from hwsim.protocol.pty_port import PtyPort
from hwsim.reference import ReferenceDevice
from hwsim.remote import RemoteDevice
from hwsim.server import DeviceServer, ServedProcess
from tests.hwsim.boards import inputs, pty_board, twin  # noqa: F401  (pty_board is a fixture)


@pytest.mark.timeout(60)
def test_served_subprocess_equals_in_process_ideal_profile() -> None:
    x = inputs(300, seed=5, lo=-1.3, hi=1.3)  # beyond full scale too: the DAC clips
    with ServedProcess("reference?seed=2", "--pty") as served:
        with RemoteDevice(served.url, timeout=2.0) as remote:
            local = ReferenceDevice(seed=2)
            assert remote.info.schema_hash() == local.info.schema_hash()
            assert (remote.info.serial_number, remote.info.limits) == ("REF-0002", {"max_abs_input": 1.0})
            y = remote.measure(x)
            assert remote.ping().measurements == 300
            assert remote.measurements == 300
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, twin(seed=2).measure(x))


def test_set_and_get_params(pty_board) -> None:  # noqa: F811
    server = pty_board()
    gain = np.linspace(0.1, 2.0, 16).astype(np.float32)
    with RemoteDevice(server.url, timeout=1.0) as remote:
        remote.set_params({"gain": gain})
        np.testing.assert_array_equal(remote.get_params()["gain"], gain)
        np.testing.assert_array_equal(server.device.get_params()["gain"], gain)
        truth = twin()
        truth.set_params({"gain": gain})
        x = inputs(20)
        np.testing.assert_array_equal(remote.measure(x), truth.measure(x))
        with pytest.raises(ShapeError):
            remote.set_params({"gain": np.ones(3)})
        with pytest.raises(ShapeError):
            remote.set_params({"phase": np.ones(16)})


def test_interlock_is_never_retried(pty_board) -> None:  # noqa: F811
    server = pty_board(ReferenceDevice(seed=0, dac_bits=None, adc_bits=None))
    with RemoteDevice(server.url, timeout=1.0, retries=5) as remote:
        x = inputs(4)
        x[2, 3] = 1.5
        with pytest.raises(InterlockError, match="max_abs_input"):
            remote.measure(x)
        # a resend (if any) answered a lost or late reply, never the interlock error
        assert remote.stats["retransmits"] == remote.stats["timeouts"] + remote.stats["bad_replies"]
        assert server.stats["MEASURE"] == 1 and server.measurements == 0
        y = remote.measure(inputs(4))  # the link is fine afterwards
    np.testing.assert_array_equal(y, twin(dac_bits=None, adc_bits=None).measure(inputs(4)))


def test_float_board_sends_float32_exactly(pty_board) -> None:  # noqa: F811
    server = pty_board(ReferenceDevice(seed=1, dac_bits=None, adc_bits=None))
    x = inputs(10, seed=3)
    with RemoteDevice(server.url) as remote:
        truth = ReferenceDevice(seed=1, dac_bits=None, adc_bits=None)
        np.testing.assert_array_equal(remote.measure(x), truth.measure(x))


def test_version_mismatch_is_refused(pty_board) -> None:  # noqa: F811
    server = pty_board(protocol_version=2)
    with pytest.raises(VersionMismatch, match="update hwsim or the firmware"):
        RemoteDevice(server.url, timeout=0.5)


def test_wrong_schema_hash_is_refused(pty_board) -> None:  # noqa: F811
    server = pty_board()
    caps = server.capabilities()
    server.capabilities = lambda: {**caps, "schema_hash": "0" * 16}  # type: ignore[method-assign]
    with pytest.raises(SchemaMismatch, match=caps["schema_hash"]):
        RemoteDevice(server.url, timeout=0.5)
    with RemoteDevice(server.url, timeout=0.5, verify_schema=False) as remote:
        assert remote.info.schema_hash() == caps["schema_hash"]


class _Renumbered(DeviceServer):
    """A board that comes back from its reboot with another serial number."""

    def reboot(self) -> None:
        super().reboot()
        self.info = dataclasses.replace(self.info, serial_number="REF-9999")


@pytest.mark.timeout(30)
def test_reconnect_refuses_a_different_board() -> None:
    server = _Renumbered(ReferenceDevice(seed=0), faults=LinkFaults(unplug_at=3, replug_s=0.05))
    url = server.serve_pty()
    try:
        with RemoteDevice(url, timeout=0.2) as remote:
            remote.measure(inputs(1))
            with pytest.raises(SchemaMismatch, match="different board"):
                remote.measure(inputs(1))
    finally:
        server.stop()


@pytest.mark.timeout(30)
def test_silent_port_times_out_never_hangs() -> None:
    port = PtyPort()  # a pty nobody answers on
    try:
        with pytest.raises(LinkTimeout, match="HELLO after 3 tries"):
            RemoteDevice(port.path, timeout=0.05, retries=2)
    finally:
        port.close()


def test_missing_port_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(PortOpenError, match="cannot open serial port"):
        RemoteDevice(str(tmp_path / "ttyNOPE"))


class _Busy(ReferenceDevice):
    """Busy for the first ``busy`` measurements."""

    def __init__(self, busy: int) -> None:
        super().__init__(seed=0)
        self.busy = busy

    def _measure(self, x: np.ndarray) -> np.ndarray:
        if self.busy > 0:
            self.busy -= 1
            raise TransientDeviceError("settling")
        return super()._measure(x)


def test_busy_is_retried_then_reported(pty_board) -> None:  # noqa: F811
    server = pty_board(_Busy(busy=2))
    x = inputs(3)
    with RemoteDevice(server.url, timeout=0.5, retries=3) as remote:
        np.testing.assert_array_equal(remote.measure(x), twin().measure(x))
        assert remote.stats["busy"] == 2
        server.device.busy = 100
        with pytest.raises(BoardBusy, match="ERR_BUSY"):
            remote.measure(x)


class _Broken(ReferenceDevice):
    def _measure(self, x: np.ndarray) -> np.ndarray:
        raise RuntimeError("laser off")


def test_device_failure_and_bad_request_are_specific(pty_board) -> None:  # noqa: F811
    server = pty_board(_Broken(seed=0))
    with RemoteDevice(server.url, timeout=0.5) as remote:
        with pytest.raises(RemoteDeviceError, match="laser off"):
            remote.measure(inputs(1))
        with pytest.raises(RequestError, match="ERR_TYPE"):
            remote._transact(0x09, b"", "type 0x09")


def test_batches_are_split_to_fit_max_payload(pty_board) -> None:  # noqa: F811
    server = pty_board(max_payload=200)  # (200 - 4) // 32 = 6 samples per frame
    x = inputs(50, seed=9)
    with RemoteDevice(server.url) as remote:
        assert remote.max_payload == 200
        np.testing.assert_array_equal(remote.measure(x), twin().measure(x))
    assert server.stats["MEASURE"] == 9 and server.measurements == 50


def test_tcp_transport(pty_board) -> None:  # noqa: F811
    server = DeviceServer(ReferenceDevice(seed=4))
    url = server.serve_tcp("127.0.0.1", 0)
    try:
        assert url.startswith("socket://127.0.0.1:")
        x = inputs(16, seed=1)
        with RemoteDevice(url) as remote:
            np.testing.assert_array_equal(remote.measure(x), twin(seed=4).measure(x))
        with RemoteDevice(url) as again:  # the board accepts the next client
            assert again.ping().measurements == 16
    finally:
        server.stop()


def test_heartbeat_pings_when_idle(pty_board) -> None:  # noqa: F811
    import time

    server = pty_board()
    with RemoteDevice(server.url, heartbeat_s=0.05) as remote:
        deadline = time.monotonic() + 10
        while remote.stats["heartbeats"] < 2:
            assert time.monotonic() < deadline
            time.sleep(0.02)
    assert server.stats["PING"] >= 2


@pytest.mark.parametrize("transport", ["pty", "tcp"])
def test_reads_come_in_chunks_never_byte_by_byte(transport: str, monkeypatch) -> None:
    from hwsim.protocol.port_io import PortIO

    server = DeviceServer(ReferenceDevice(seed=0))
    url = server.serve_pty() if transport == "pty" else server.serve_tcp()
    x = inputs(128)  # 4 KiB of codes each way
    try:
        with RemoteDevice(url) as remote:
            remote.measure(x)
            # a pty is a plain POSIX port: read with select + os.read directly; socket:// goes through pyserial
            assert (remote._io.fd is not None) == (transport == "pty")
            cls = type(remote._ser)
            waits: list[float] = []
            reads: list[int] = []
            read_some, read = PortIO.read_some, cls.read
            monkeypatch.setattr(PortIO, "read_some", lambda self, t: waits.append(t) or read_some(self, t))
            monkeypatch.setattr(cls, "read", lambda self, size=1: reads.append(size) or read(self, size))
            for _ in range(5):
                remote.measure(x)
    finally:
        server.stop()
    assert 5 <= len(waits) <= 5 * 8, f"{len(waits)} reads for 5 round trips of ~4.1 KB replies"
    # each wait is one os.read (pty) or at most two pyserial reads: the first byte, then all that came with it
    assert reads == [] if transport == "pty" else len(reads) <= 2 * len(waits)


def test_limit_checks_are_kept_unless_no_decodable_input_can_break_them() -> None:
    from dataclasses import replace

    from hwsim.server import needed_limit_checks

    info = ReferenceDevice(seed=0).info  # 12-bit DAC over [-1, 1], max_abs_input 1.0: codes cannot exceed it
    assert needed_limit_checks(info) == []
    wide = replace(info, input_range=(-2.0, 2.0))  # code 4095 decodes to 2.0: the interlock must stay
    assert [name for name, _, _ in needed_limit_checks(wide)] == ["max_abs_input"]
    floats = replace(info, dac_bits=None)  # float32 samples carry any value
    assert [name for name, _, _ in needed_limit_checks(floats)] == ["max_abs_input"]
    tight = replace(info, limits={"max_input": 0.5, "min_input": -1.0})
    assert [name for name, _, _ in needed_limit_checks(tight)] == ["max_input"]
