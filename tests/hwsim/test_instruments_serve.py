"""A simulated instrument chain end to end: ``hwsim train`` on it beside the ablation, ``hwsim serve`` of it as a
protocol-v1 board measuring what the in-process chain measures, and the example script."""

from __future__ import annotations

import os
import runpy
import select
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hwsim.cli import main as hwsim
from hwsim.registry import create_device
from hwsim.remote import RemoteDevice

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TINY = ["--epochs", "1", "--max-train", "20", "--max-test", "10", "--batch-size", "10"]


def test_hwsim_train_on_a_simulated_chain_prints_accuracy_beside_the_ablation(tmp_path, capsys):
    spec = "visa?config=keysight-awg-scope&simulate=true"
    assert hwsim(["train", "--system", spec, "--method", "mfff", *TINY, "--runs", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    accuracy = [line for line in lines if "%" in line]
    on_chain = [line for line in accuracy if spec in line]
    assert len(on_chain) == 1 and float(on_chain[0].split("%")[0].split()[-1]) >= 0.0
    assert any("ablation" in line for line in accuracy)  # beside the physical-off ablation
    measured = [p for p in tmp_path.iterdir() if "keysight-awg-scope" in (p / "handshake.json").read_text()]
    assert len(measured) == 1 and (measured[0] / "result.json").exists()


def _serve(spec: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "hwsim.cli", "serve", spec, "--pty", "--spin-us", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    ready, _, _ = select.select([proc.stdout], [], [], 60)
    if not ready:
        proc.kill()
        pytest.fail(f"hwsim serve printed no port: {proc.stderr.read() if proc.poll() is not None else ''}")
    return proc, proc.stdout.readline().strip()


@pytest.mark.parametrize("chain", ["keysight-awg-scope", "tektronix-awg-scope"])
def test_hwsim_serve_a_chain_and_remote_device_measures_the_same_values(chain):
    """The simulated bench's noise is seeded, so the served chain (its own process) and a fresh in-process chain
    give identical readings for the same requests. The Tektronix chain declares 14-bit inputs: protocol v1 carries
    DAC codes on the AFG's own grid, so nothing changes in transit."""
    spec = f"visa?config={chain}&simulate=true"
    x = np.random.default_rng(11).uniform(-1, 1, (70, 16)).astype(np.float32)
    proc, url = _serve(spec)
    try:
        with RemoteDevice(url, timeout=5.0) as board:
            assert board.info.name == chain and board.info.input_shape == (16,)
            served = np.concatenate([board.measure(x[:40]), board.measure(x[40:])])
            assert board.ping().measurements == 70
    finally:
        proc.terminate()
        proc.wait(10)
    with create_device(spec) as local:
        assert local.info.schema_hash() == board.info.schema_hash()
        here = np.concatenate([local.measure(x[:40]), local.measure(x[40:])])
    np.testing.assert_array_equal(served, here)


def test_a_served_chain_reports_instrument_faults_to_the_host_with_their_sentence(tmp_path):
    import yaml

    from hwsim.instruments.spec import SHIPPED_CHAINS, SHIPPED_SIMULATIONS
    from hwsim.protocol.errors import RemoteDeviceError
    from hwsim.server import DeviceServer

    sim = yaml.safe_load((SHIPPED_SIMULATIONS / "keysight-awg-scope.yaml").read_text())
    sim["hwsim_bench"]["fault"] = "malformed_block"
    (tmp_path / "bench.yaml").write_text(yaml.safe_dump(sim))
    chain = yaml.safe_load((SHIPPED_CHAINS / "keysight-awg-scope.yaml").read_text())
    chain["simulation"] = "bench.yaml"
    (tmp_path / "chain.yaml").write_text(yaml.safe_dump(chain))
    server = DeviceServer(create_device(f"visa?config={tmp_path / 'chain.yaml'}&simulate=true"))
    url = server.serve_pty()
    try:
        with RemoteDevice(url, timeout=5.0) as board:
            with pytest.raises(RemoteDeviceError, match=r"ERR_DEVICE.*instrument 'scope'.*':WAV:DATA\?': malformed "
                                                        r"block header"):
                board.measure(np.zeros((2, 16), np.float32))
    finally:
        server.stop()


def test_visa_example_runs(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["visa_awg_scope.py", "--chain", "tektronix-awg-scope", "--epochs", "1",
                                      "--max-train", "20", "--max-test", "10"])
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(EXAMPLES / "visa_awg_scope.py"), run_name="__main__")
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "AFG31022" in out and "MSO54" in out  # the instruments' identities
    assert "MNIST-1D through tektronix-awg-scope (simulated)" in out
    assert "mfff" in out and "ablation" in out and "logreg" in out


def test_hwsim_probe_prints_each_instruments_identity_and_a_test_shot(capsys):
    assert hwsim(["probe", "visa?config=tektronix-awg-scope&simulate=true"]) == 0
    out = capsys.readouterr().out
    assert "TEKTRONIX,AFG31022,C010001" in out and "TEKTRONIX,MSO54,C012345" in out
    assert "protocol v1 14-bit codes" in out and "32 row(s) per shot" in out and "test shot" in out
    assert hwsim(["probe", "visa?config=no-such-chain"]) == 2
    assert "shipped chains: keysight-awg-scope" in capsys.readouterr().err
