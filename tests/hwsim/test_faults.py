"""Issue 2 acceptance: a run of 2,000+ requests through bit flips, drops, truncations and one unplug/replug,
with the host's default settings (issue 12, defect 7: the defaults must survive the documented fault rates)."""

from __future__ import annotations

import numpy as np
import pytest

from hwsim.faults import LinkFaults
from hwsim.protocol.errors import DeviceUnplugged, LinkTimeout
from hwsim.reference import ReferenceDevice
from hwsim.remote import RemoteDevice
from hwsim.server import DeviceServer
from tests.hwsim.boards import inputs, twin

GAIN = np.linspace(0.5, 1.5, 16).astype(np.float32)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("spin_s", [0.0, 2e-4], ids=["sleeping-board", "polling-board"])
def test_faulty_link_never_accepts_corruption_nor_measures_twice(spin_s: float) -> None:
    faults = LinkFaults(flip=0.05, drop=0.01, truncate=0.01, unplug_at=1000, replug_s=0.2, seed=7)
    device = ReferenceDevice(seed=0)
    server = DeviceServer(device, faults=faults, spin_s=spin_s)
    url = server.serve_pty()
    truth = twin(seed=0)
    truth.set_params({"gain": GAIN})
    try:
        with RemoteDevice(url) as remote:  # library defaults: timeout 1 s (adaptive), 10 retries, 5 s reconnect
            assert (remote.timeout, remote.retries, remote.reconnect_timeout_s) == (1.0, 10, 5.0)
            remote.set_params({"gain": GAIN})
            requested = 0
            for i in range(2000):
                x = inputs(1 + i % 3, seed=i)
                y = remote.measure(x)
                # ground truth: every accepted measurement is exactly what the device gives, gain included
                np.testing.assert_array_equal(y, truth.measure(x), err_msg=f"request {i}")
                requested += x.shape[0]
            restored = remote.get_params()["gain"]
            stats = dict(remote.stats)
    finally:
        server.stop()
    # every fault kind happened, and the unplug/replug once (a reboot reset the gain to power-on values)
    assert faults.counts["flip"] > 50 and faults.counts["drop"] > 5 and faults.counts["truncate"] > 5
    assert faults.counts["unplug"] == 1 and server.reboots == 1 and stats["reconnects"] == 1
    # parameters restored after the replug
    np.testing.assert_array_equal(restored, GAIN)
    # retransmissions were answered from the reply cache: no sample measured twice
    assert stats["retransmits"] > 0 and server.stats["cache_hits"] > 0
    assert server.total_measurements == requested == device.measurements


@pytest.mark.timeout(30)
def test_exhausted_retries_raise_link_timeout_after_one_measurement() -> None:
    faults = LinkFaults(seed=1)
    device = ReferenceDevice(seed=0)
    server = DeviceServer(device, faults=faults)
    url = server.serve_pty()
    try:
        with RemoteDevice(url, timeout=0.05, retries=3) as remote:
            faults.drop = 1.0  # every reply is lost from now on
            with pytest.raises(LinkTimeout, match="after 4 tries"):
                remote.measure(inputs(2))
            assert remote.stats["retransmits"] == 3
    finally:
        server.stop()
    assert device.measurements == 2 and server.stats["cache_hits"] == 3


@pytest.mark.timeout(30)
def test_board_that_never_comes_back_raises_device_unplugged() -> None:
    server = DeviceServer(ReferenceDevice(seed=0), faults=LinkFaults(unplug_at=3, replug_s=None))
    url = server.serve_pty()
    try:
        with RemoteDevice(url, timeout=0.1, retries=2, reconnect_timeout_s=0.5) as remote:
            remote.measure(inputs(1))
            with pytest.raises(DeviceUnplugged, match="did not answer again"):
                remote.measure(inputs(1))
    finally:
        server.stop()


@pytest.mark.timeout(30)
def test_heartbeat_reconnects_and_restores_parameters_while_idle() -> None:
    import time

    server = DeviceServer(ReferenceDevice(seed=0), faults=LinkFaults(unplug_at=4, replug_s=0.1))
    url = server.serve_pty()
    try:
        with RemoteDevice(url, timeout=0.1, retries=2, heartbeat_s=0.05, reconnect_timeout_s=5.0) as remote:
            remote.set_params({"gain": GAIN})  # request 2; heartbeat PINGs follow, the 4th request unplugs
            deadline = time.monotonic() + 10
            while server.reboots == 0 or remote.stats["reconnects"] == 0:
                assert time.monotonic() < deadline, "the heartbeat never noticed the unplug"
                time.sleep(0.02)
            while remote.stats["heartbeats"] < 4:
                time.sleep(0.02)
            np.testing.assert_array_equal(server.device.get_params()["gain"], GAIN)
    finally:
        server.stop()
