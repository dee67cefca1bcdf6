"""Round trip through a local TVM RPC server: upload, load, run, time (acceptance 6)."""

from __future__ import annotations

import numpy as np
import pytest

import edge
from edge.errors import RemoteError
from edge.rpc import RemoteModel, connect, parse_address, start_server
from hwsim.errors import ConfigError
from tests.edge import edge_models as em


@pytest.fixture(scope="module")
def server():
    srv = start_server("127.0.0.1", 19190, port_end=19290)
    yield srv
    srv.terminate()


def test_remote_run_and_time(server, tmp_path):
    model, compiled = em.compiled_cnn_host()
    path = compiled.export(tmp_path / "cnn")
    address = f"127.0.0.1:{server.port}"
    x = np.random.default_rng(2).standard_normal((1, 1, 8, 8)).astype("float32")
    with RemoteModel(connect(address), path) as remote:  # the server serves one session at a time
        np.testing.assert_allclose(remote(x), em.reference(model, x), atol=1e-4)
    stats = edge.time_model(path, [x], repeat=3, number=2, rpc=address)
    assert stats["n"] == 3 and stats["where"] == f"rpc {address}" and stats["median"] > 0


def test_address_parsing():
    assert parse_address("board:9090") == ("server", "board", 9090, None)
    assert parse_address("tracker://10.0.0.2:9190/orin") == ("tracker", "10.0.0.2", 9190, "orin")
    for bad in ("board", "tracker://h:1", "h:port"):
        with pytest.raises(ConfigError):
            parse_address(bad)


def test_unreachable_server():
    with pytest.raises(RemoteError, match="rpc-server"):
        connect("127.0.0.1:1")


@pytest.mark.slow
def test_through_a_tracker(tmp_path):
    import time

    from tvm.rpc.tracker import Tracker

    tracker = Tracker("127.0.0.1", port=19400, port_end=19500, silent=True)
    server = start_server("127.0.0.1", 19600, port_end=19700, tracker=f"127.0.0.1:{tracker.port}", key="testboard")
    try:
        model = em.mlp()
        import torch

        path = edge.compile_model(model, (torch.randn(1, 16),)).export(tmp_path / "mlp")
        address = f"tracker://127.0.0.1:{tracker.port}/testboard"
        x = np.ones((1, 16), "float32")
        for _ in range(50):  # the server registers with the tracker shortly after it starts
            try:
                with RemoteModel(connect(address), path) as remote:
                    np.testing.assert_allclose(remote(x), em.reference(model, x), atol=1e-4)
                break
            except RemoteError:
                time.sleep(0.5)
        else:
            pytest.fail("the server never registered with the tracker")
    finally:
        server.terminate()
        tracker.terminate()
