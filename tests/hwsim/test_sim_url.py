"""``sim://<device-spec>``: an in-process board behind a pyserial port."""

from __future__ import annotations

import numpy as np
import pytest
import serial

import hwsim.remote  # noqa: F401  (registers the sim:// handler with pyserial)
from hwsim.protocol.frame import Frame, FrameReader, encode_frame
from hwsim.protocol.hello import decode_hello
from hwsim.protocol.messages import MsgType
from hwsim.registry import create_device
from hwsim.remote import RemoteDevice
from hwsim.server import in_process_twin
from tests.hwsim.boards import inputs, twin


def test_serial_for_url_gives_a_pyserial_port() -> None:
    with serial.serial_for_url("sim://reference?seed=3", timeout=0.5) as port:
        assert isinstance(port, serial.SerialBase)
        port.write(encode_frame(Frame(MsgType.HELLO, 1)))
        assert port.in_waiting > 0
        frames = FrameReader().feed(port.read(port.in_waiting))
        assert decode_hello(frames[0].body)["serial_number"] == "REF-0003"
        assert port.read(1) == b""  # nothing more: read times out


def test_remote_over_sim_equals_ideal_profile() -> None:
    x = inputs(40, seed=2)
    with RemoteDevice("sim://reference?seed=3") as remote:
        np.testing.assert_array_equal(remote.measure(x), twin(seed=3).measure(x))
        assert remote.ping().measurements == 40


def test_profile_in_url_is_applied_on_the_board() -> None:
    pytest.importorskip("hwsim.nonideal")
    x = inputs(8, seed=1)
    with RemoteDevice("sim://reference?seed=3&profile=ideal") as remote:
        y = remote.measure(x)
    np.testing.assert_array_equal(y, in_process_twin(create_device("reference?seed=3&profile=ideal")).measure(x))


def test_link_faults_from_url_are_survived() -> None:
    url = "sim://reference?seed=1&link_flip=0.1&link_drop=0.05&link_unplug_at=30&link_replug_s=0&link_seed=2"
    truth = twin(seed=1)
    with RemoteDevice(url, timeout=0.02, retries=8) as remote:
        remote.set_params({"gain": np.full(16, 0.7, np.float32)})
        truth.set_params({"gain": np.full(16, 0.7, np.float32)})
        for i in range(60):
            x = inputs(2, seed=i)
            np.testing.assert_array_equal(remote.measure(x), truth.measure(x))
        assert remote.stats["reconnects"] == 1 and remote.stats["retransmits"] > 0


@pytest.mark.parametrize("url, match", [("sim://nosuchdevice", "unknown device"),
                                        ("sim://reference?link_flip=2", "between 0 and 1"),
                                        ("sim://reference?bogus=1", "bad options")])
def test_bad_sim_urls_say_what_is_wrong(url: str, match: str) -> None:
    with pytest.raises(serial.SerialException, match=match):
        serial.serial_for_url(url)
