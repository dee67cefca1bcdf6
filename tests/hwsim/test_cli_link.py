"""The serve / probe / demo commands and a quick link benchmark (no timing assertions)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hwsim.cli import main
from hwsim.server import ServedProcess


def hwsim(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hwsim.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.timeout(90)
def test_serve_pty_then_probe() -> None:
    with ServedProcess("reference?seed=7", "--pty") as served:
        out = hwsim("probe", served.url)
        assert out.returncode == 0, out.stderr
        assert "serial REF-0007" in out.stdout and "(verified)" in out.stdout and "12-bit DAC" in out.stdout
        hashed = hwsim("probe", served.url, "--schema-hash")
        assert hashed.returncode == 0 and len(hashed.stdout.strip()) == 16
        as_json = json.loads(hwsim("probe", served.url, "--json").stdout)
        assert as_json["schema_hash"] == hashed.stdout.strip() and as_json["protocol"] == 1


@pytest.mark.timeout(60)
def test_serve_tcp_with_faults(capsys) -> None:
    with ServedProcess("reference", "--tcp", "0", "--faults", "flip=0.05,seed=3") as served:
        assert served.url.startswith("socket://127.0.0.1:")
        assert main(["probe", served.url, "--timeout", "0.2"]) == 0
    assert "REF-0000" in capsys.readouterr().out


def test_probe_and_serve_report_user_errors(capsys) -> None:
    assert main(["probe", "/nonexistent/ttyHWSIM"]) == 2
    assert "cannot open serial port" in capsys.readouterr().err
    assert main(["serve", "nosuchdevice", "--pty"]) == 2
    assert "unknown device" in capsys.readouterr().err
    assert main(["serve", "reference", "--pty", "--faults", "wobble=1"]) == 2
    assert "bad fault" in capsys.readouterr().err


@pytest.mark.timeout(60)
def test_demo_agrees_exactly(capsys) -> None:
    assert main(["demo", "--batch", "64"]) == 0
    out = capsys.readouterr().out
    assert "EXACT" in out and "1024/1024 values identical" in out and "handshake reference" in out


@pytest.mark.timeout(120)
def test_link_bench_quick_writes_json(tmp_path) -> None:
    path = tmp_path / "link.json"
    assert main(["bench", "link", "--quick", "--json", str(path)]) == 0
    data = json.loads(path.read_text())
    assert data["bench"] == "link" and data["quick"] is True
    wanted = {"payload_round_trip_B", "line_data_rate_bps", "efficiency", "remote_overhead_ms"}
    assert wanted <= set(data["definitions"])
    rows = {(r["baud"], r["payload_B"]): r for r in data["rows"]}
    assert set(rows) == {(b, s) for b in (None, 921600) for s in (64, 1024, 4096)}
    paced = rows[(921600, 4096)]
    assert paced["payload_round_trip_B"] == 8192 and paced["line_bytes"] > 8192
    assert paced["line_data_rate_bps"] == pytest.approx(921600 * 0.8)
    # physics, not speed: nothing can beat the line, so efficiency <= line_utilisation * payload share < 1
    assert 0 < paced["efficiency"] <= 1.0 and paced["efficiency_raw"] == pytest.approx(0.8 * paced["efficiency"])
    for key in ("remote_overhead_ms", "in_process_1KiB_ms", "naive_per_byte_1KiB_ms", "sim_1KiB_ms"):
        assert data[key] == data[key]  # a number, not NaN
