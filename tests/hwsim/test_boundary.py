"""Issue 12: no code from a URL (acceptance 2), set_params validation, dangling links, honest messages."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from hwsim.cli import main
from hwsim.errors import ConfigError, ShapeError
from hwsim.protocol.errors import DanglingLink, DeviceUnplugged
from hwsim.protocol.frame import Frame, decode_frame
from hwsim.protocol.messages import MsgType, Status, encode_params
from hwsim.reference import ReferenceDevice
from hwsim.remote import RemoteDevice
from hwsim.server import Board, DeviceServer, ServedProcess
from tests.hwsim.boards import inputs, pty_board, twin  # noqa: F401  (pty_board is a fixture)
from tests.hwsim.hostile import MARGIN_S

HOSTILE_URL = "sim://os:system?command=touch+pwned"


# -- acceptance 2: a URL names registered devices only ------------------------------------------------------
@pytest.mark.timeout(60)
def test_a_device_url_cannot_run_code(tmp_path, monkeypatch) -> None:
    out = subprocess.run([sys.executable, "-m", "hwsim.cli", "probe", HOSTILE_URL], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "refusing to import device 'os:system'" in out.stderr and "--allow-import" in out.stderr
    assert not (tmp_path / "pwned").exists()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="refusing to import device 'os:system'"):
        RemoteDevice(HOSTILE_URL)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.timeout(90)
def test_module_paths_need_the_explicit_opt_in(capsys) -> None:
    url = "sim://hwsim.reference:ReferenceDevice?seed=3"
    with RemoteDevice(url, allow_import=True) as dev:
        np.testing.assert_array_equal(dev.measure(inputs(4)), twin(seed=3).measure(inputs(4)))
    assert main(["probe", url]) == 2
    assert "refusing to import" in capsys.readouterr().err
    assert main(["probe", url, "--allow-import"]) == 0
    assert "REF-0003" in capsys.readouterr().out
    assert main(["serve", "hwsim.reference:ReferenceDevice", "--pty"]) == 2
    assert "refusing to import" in capsys.readouterr().err
    with ServedProcess("hwsim.reference:ReferenceDevice?seed=4", "--pty", "--allow-import") as served:
        with RemoteDevice(served.url) as dev:
            assert dev.info.serial_number == "REF-0004"


# -- set_params --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value, match", [
    (np.full(16, np.nan), "NaN or inf"),
    (np.r_[np.ones(15), np.inf], "NaN or inf"),
    (np.ones(16) * 1j, "complex numbers"),
    (np.full(16, 1e39), "beyond float32"),
    (["high"] * 16, "dtype <U4"),
])
def test_bad_parameter_values_are_refused_before_anything_is_sent(pty_board, value, match) -> None:  # noqa: F811
    server = pty_board()
    with RemoteDevice(server.url) as dev:
        with pytest.raises(ShapeError, match=f"parameter 'gain' .*{match}"):
            dev.set_params({"gain": value})
        for wrong in ("gain", [("gain", np.ones(16))]):
            with pytest.raises(ConfigError, match="set_params takes a dict"):
                dev.set_params(wrong)  # type: ignore[arg-type]
        np.testing.assert_array_equal(dev.measure(inputs(2)), twin().measure(inputs(2)))  # gain untouched
    assert server.stats["SET_PARAMS"] == 0


def test_the_board_refuses_non_finite_parameters_from_the_wire() -> None:
    board = Board(ReferenceDevice(seed=0))
    body = encode_params({"gain": np.r_[np.ones(15), np.nan].astype(np.float32)})
    reply = decode_frame(board.handle(Frame(MsgType.SET_PARAMS, 1, body)))
    assert reply.status == Status.ERR_REQUEST and b"parameter 'gain' holds NaN" in reply.body
    assert (board.device.get_params()["gain"] == 1.0).all()


def test_a_device_the_protocol_cannot_describe_is_not_served() -> None:
    dev = ReferenceDevice(seed=0)
    dev.info = dataclasses.replace(dev.info, input_range=(1.0, 1.0))
    with pytest.raises(ConfigError, match="cannot be served.*'input_range'"):
        DeviceServer(dev)


# -- dangling links ----------------------------------------------------------------------------------------
def _crash(served: ServedProcess) -> None:
    os.kill(served.proc.pid, signal.SIGKILL)
    served.proc.wait()


def _reuse_pty_number(link: str) -> int:
    """What happens after a crash: another program gets a pty and the old link leads to it. Returns its master."""
    master, slave = os.openpty()
    os.set_blocking(master, False)
    os.unlink(link)
    os.symlink(os.ttyname(slave), link)
    return master


def _nothing_written(master: int) -> bool:
    try:
        return os.read(master, 4096) == b""
    except BlockingIOError:
        return True


@pytest.mark.timeout(60)
def test_a_link_left_by_a_crashed_server_is_refused_before_a_byte_is_written(tmp_path) -> None:
    link = str(tmp_path / "board")
    served = ServedProcess("reference", "--pty", "--link", link)
    _crash(served)
    served.close()
    master = _reuse_pty_number(link)
    with pytest.raises(DanglingLink, match=r"board server \(pid \d+\) that is no longer running"):
        RemoteDevice(link, timeout=0.2)
    assert main(["probe", link]) == 2
    assert _nothing_written(master)
    os.close(master)


@pytest.mark.timeout(60)
def test_after_a_crash_the_host_stops_in_time_and_writes_nothing_into_the_dangling_link(tmp_path) -> None:
    link = str(tmp_path / "board")
    served = ServedProcess("reference", "--pty", "--link", link)
    try:
        with RemoteDevice(link, timeout=0.2, retries=2, reconnect_timeout_s=1.0) as dev:
            dev.measure(inputs(2))
            _crash(served)
            master = _reuse_pty_number(link)
            budget = dev.budget_s(68, 68) + dev.reconnect_timeout_s
            t0 = time.monotonic()
            with pytest.raises(DeviceUnplugged, match="no longer running"):
                dev.measure(inputs(2))
            took = time.monotonic() - t0
        assert took <= budget + MARGIN_S, f"{took:.2f} s > {budget:.2f} s"
        assert _nothing_written(master)
        os.close(master)
    finally:
        served.close()


@pytest.mark.timeout(90)
def test_a_restarted_server_on_the_same_link_is_the_same_board_again(tmp_path) -> None:
    link = str(tmp_path / "board")
    first = ServedProcess("reference?seed=6", "--pty", "--link", link)
    with RemoteDevice(link, reconnect_timeout_s=30.0) as dev:
        dev.set_params({"gain": np.full(16, 0.25, np.float32)})
        _crash(first)
        first.close()
        with ServedProcess("reference?seed=6", "--pty", "--link", link):
            truth = twin(seed=6)
            truth.set_params({"gain": np.full(16, 0.25, np.float32)})
            np.testing.assert_array_equal(dev.measure(inputs(3)), truth.measure(inputs(3)))  # gain restored
            assert dev.stats["reconnects"] == 1


def test_the_lock_file_goes_with_the_server(tmp_path) -> None:
    link = str(tmp_path / "board")
    server = DeviceServer(ReferenceDevice(seed=0))
    server.serve_pty(link)
    assert os.path.exists(link + ".lock")
    server.stop()
    assert not os.path.lexists(link) and not os.path.exists(link + ".lock")


# -- sim:// carries bytes; the board keeps its own power state ---------------------------------------------
def test_an_unplugged_sim_board_stays_out_for_its_replug_delay_and_comes_back_rebooted() -> None:
    url = "sim://reference?link_unplug_at=3&link_replug_s=0.3"
    with RemoteDevice(url, reconnect_timeout_s=5.0) as dev:
        dev.set_params({"gain": np.full(16, 2.0, np.float32)})  # request 2
        t0 = time.monotonic()
        y = dev.measure(inputs(2))  # request 3 unplugs the board; the host reconnects to the same port object
        assert time.monotonic() - t0 >= 0.3
        board = dev._port.board  # type: ignore[union-attr]
        assert board.reboots == 1 and dev.stats["reconnects"] == 1
    truth = twin()
    truth.set_params({"gain": np.full(16, 2.0, np.float32)})
    np.testing.assert_array_equal(y, truth.measure(inputs(2)))


@pytest.mark.timeout(30)
def test_a_board_gone_while_the_port_was_closed_is_reported_without_a_none(pty_board) -> None:  # noqa: F811
    server = pty_board()
    with RemoteDevice(server.url, timeout=0.2, retries=1, reconnect_timeout_s=0.3) as dev:
        dev.measure(inputs(1))
        server.stop()
        dev._close_port()  # what the heartbeat does after a failed PING: the next request reconnects
        with pytest.raises(DeviceUnplugged, match="went away and did not answer again") as info:
            dev.measure(inputs(1))
    assert "(None)" not in str(info.value)
