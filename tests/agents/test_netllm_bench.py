"""``hwsim bench netllm`` end to end with the tiny backbone (a smoke test of its rows and JSON), and
the GPU check script on a GPU."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import pytest

from agents.netllm import bench

ROOT = Path(__file__).resolve().parents[2]


def test_quick_bench_rows(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert bench.main(["--quick", "--backbone", "tiny", "--threads", "1", "--device", "cpu",
                       "--runs-dir", str(tmp_path / "runs"), "--json", str(out)]) == 0
    payload = json.loads(out.read_text())
    assert payload["bench"] == "netllm" and payload["config_name"] == "quick" and payload["device"] == "cpu"
    rows = {(r["task"], r["method"]): r for r in payload["rows"]}
    abr = {m for t, m in rows if t == "abr-fcc-test"}
    assert {"bba", "mpc", "mpc-netllm", "rate", "netllm", "netllm-random"} == abr
    assert "pool policy" in rows[("abr-fcc-test", "mpc")]["detail"]
    assert "ablation" in rows[("abr-fcc-test", "netllm-random")]["detail"]
    assert {m for t, m in rows if t == "vp-test"} == {"linear", "velocity", "static", "netllm"}
    bba = rows[("abr-fcc-test", "bba")]["value"]
    for (task, _), row in rows.items():
        ref = bba if task == "abr-fcc-test" else rows[("vp-test", "velocity")]["value"]
        assert row["vs_ref"] == pytest.approx(row["value"] / ref)
    assert "10 traces" in rows[("abr-fcc-test", "netllm")]["detail"]
    assert payload["timings"]["total_s"] > 0 and (tmp_path / "runs" / "pool_abr.npz").exists()
    assert "netllm-random" in capsys.readouterr().out


@pytest.mark.gpu
def test_gpu_check_script(tmp_path, monkeypatch):
    script = ROOT / "examples" / "netllm_gpu_check.py"
    monkeypatch.setattr(sys, "argv", [str(script), "--out", str(tmp_path), "--abr-steps", "20", "--vp-steps", "20",
                                      "--skip-cpu-config"])
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(script), run_name="__main__")
    assert done.value.code == 0
    assert (tmp_path / "bench_long.json").exists()


def test_quick_bench_on_two_workers_equals_in_process(tmp_path):
    """Baselines' episodes and adapted models as jobs on two local worker processes: the same rows."""
    argv = ["--quick", "--backbone", "tiny", "--threads", "1", "--device", "cpu", "--only", "abr", "--traces", "4"]
    tables = []
    for name, extra in (("here", []), ("two", ["--workers", "2"])):
        out = tmp_path / f"{name}.json"
        assert bench.main([*argv, *extra, "--runs-dir", str(tmp_path / name), "--json", str(out)]) == 0
        tables.append(json.loads(out.read_text()))
    here, two = tables

    def values(payload):
        return [(r["task"], r["method"], r["value"], r["std"], r["vs_ref"]) for r in payload["rows"]]

    assert values(two) == values(here) and len(values(here)) == 6
    assert here["backend"] == "this process" and two["backend"] == "2 local worker processes"
    assert sum(p["jobs"] for p in two["placement"]) == 6
    assert (tmp_path / "two" / "pool_abr.npz").exists() and (tmp_path / "two" / "pool_abr-random.npz").exists()
