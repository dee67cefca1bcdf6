"""A farm of boards behind TVM's RPC tracker (acceptance 3 of issue 14): a local tracker started with
``python -m tvm.exec.rpc_tracker``, two boards registered by ``hwsim edge rpc-server --tracker ... --key``,
a bench on a board the tracker hands out, and tuning measured on both boards."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from edge.errors import RemoteError
from edge.tracker import BoardFarm, parse_host_port, wait_for_boards
from hwsim.cli import main
from hwsim.errors import ConfigError
from tests.edge import edge_models as em

ROOT = Path(__file__).resolve().parents[2]
KEY = "farm"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(*argv: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *argv], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)  # the rpc-server's Ctrl-C path terminates its server process
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def farm():
    port = _free_port()
    procs = [_start("-m", "tvm.exec.rpc_tracker", "--host", "127.0.0.1", "--port", str(port),
                    "--port-end", str(port + 1))]
    try:
        farm = BoardFarm("127.0.0.1", port, KEY)
        for base in (29600, 29700):
            procs.append(_start("-m", "hwsim.cli", "edge", "rpc-server", "--host", "127.0.0.1", "--port", str(base),
                                "--port-end", str(base + 99), "--tracker", f"127.0.0.1:{port}", "--key", KEY))
        wait_for_boards(farm, 2, timeout_s=120)
        yield farm
    finally:
        for proc in reversed(procs):
            _stop(proc)


def test_two_boards_register_under_one_key(farm):
    assert farm.status() == {"boards": 2, "free": 2, "pending": 0}
    assert farm.require_boards() == 2
    servers = [s for s in farm.summary()["server_info"] if s["key"] == f"server:{KEY}"]
    assert len({tuple(s["addr"]) for s in servers}) == 2
    with pytest.raises(RemoteError, match="no board is registered under key 'nothing'"):
        BoardFarm(farm.host, farm.port, "nothing").require_boards()


def test_bench_on_a_board_of_the_farm(farm, tmp_path, private_cache):
    path = em.compiled_cnn_host()[1].export(tmp_path / "cnn")
    report = tmp_path / "bench.json"
    assert main(["edge", "bench", str(path), "--tracker", f"{farm.host}:{farm.port}", "--key", KEY,
                 "--repeat", "3", "--number", "2", "--json", str(report)]) == 0
    row = json.loads(report.read_text())["rows"][0]
    assert row["where"] == f"rpc {farm.address}" and row["n"] == 3 and row["median_ms"] > 0
    wait_for_boards(farm, 2, timeout_s=60)  # the session ended and the board went back to the tracker


def test_farm_options_are_checked(tmp_path, capsys):
    assert parse_host_port("10.0.0.2:9190") == ("10.0.0.2", 9190)
    for bad in ("board", "h:port", "h:0", ":9190"):
        with pytest.raises(ConfigError, match="host:port"):
            parse_host_port(bad)
    with pytest.raises(ConfigError, match="--tracker needs --key"):
        BoardFarm.parse("127.0.0.1:9190", None)
    assert main(["edge", "bench", str(tmp_path), "--key", "k"]) == 2
    assert "give --tracker HOST:PORT too" in capsys.readouterr().err
    assert main(["edge", "bench", str(tmp_path), "--rpc", "h:1", "--tracker", "h:2", "--key", "k"]) == 2
    assert "not both" in capsys.readouterr().err
    with pytest.raises(RemoteError, match="rpc_tracker"):
        BoardFarm("127.0.0.1", _free_port(), "k").status()


@pytest.mark.slow
def test_tuning_on_the_farm_is_as_correct_as_local_tuning(farm, tmp_path, private_cache, capsys):
    """The candidates of one tuning measured on both boards at once; the tuned kernels as correct as those of
    the same tuning measured here."""
    import edge

    out = tmp_path / "farm-tuned"
    assert main(["edge", "compile", "tests.edge.edge_models:mlp_factory", "--tune", "4", "--tuning-db",
                 str(tmp_path / "farm-db"), "--tracker", f"{farm.host}:{farm.port}", "--key", KEY, "--threads", "1",
                 "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"on the boards under '{KEY}'" in printed and "up to 2 of 2 busy at once" in printed, printed
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["tuning"]["farm"]["peak_busy"] == 2 and manifest["tuning"]["records"] > 0
    assert manifest["verification"]["passed"]

    model = em.mlp()
    local = edge.compile_model(model, (torch.randn(1, 16),), tune_trials=4, tuning_db=tmp_path / "local-db",
                               num_threads=1)
    assert local.info["verification"]["passed"] and local.info["tuning"]["records"] > 0
    assert "farm" not in local.info["tuning"]
    farm_tuned = edge.load(out)
    x = np.random.default_rng(3).standard_normal((1, 16)).astype("float32")
    want = em.reference(model, x)
    np.testing.assert_allclose(farm_tuned(x), want, atol=1e-4)
    np.testing.assert_allclose(local(x), want, atol=1e-4)
    assert max(manifest["verification"]["max_abs_error"], local.info["verification"]["max_abs_error"]) < 1e-4
