"""``hwsim bench agents``: each part on a small problem, and the whole command (slow)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from agents import bench


def test_cluster_rows_compare_on_the_same_jobs():
    rows = bench.bench_cluster(num_jobs=6, seeds=[0, 1], num_executors=10)
    assert [r["method"] for r in rows] == ["fifo", "fair", "sjf"]
    assert all(r["metric"] == "mean_jct_s" and r["value"] > 0 for r in rows)
    assert rows[0]["vs_ref"] == pytest.approx(1.0)


def test_viewport_rows():
    rows = bench.bench_viewport()
    methods = {r["method"] for r in rows if r["task"] == "vp-test-all"}
    assert {"linear", "velocity", "static", "linear-nounwrap", "velocity-nounwrap"} == methods
    assert all(0 < r["value"] < 90 for r in rows)


def test_abr_rows_on_held_out_hsdpa():
    rows = {r["method"]: r for r in bench.bench_abr("hsdpa-test")}
    assert set(rows) == {"bba", "rate", "mpc", "mpc-netllm"}
    assert rows["bba"]["vs_ref"] == pytest.approx(1.0)


def test_throughput_rows():
    rows = bench.bench_throughput(min_time=0.05, num_envs=2)
    assert [r["metric"] for r in rows] == ["steps_per_s"] * 4
    assert all(r["value"] > 0 for r in rows)


@pytest.mark.slow
def test_cli_quick_writes_json(tmp_path):
    out = tmp_path / "agents.json"
    subprocess.run([sys.executable, "-m", "hwsim.cli", "bench", "agents", "--quick", "--json", str(out)], check=True)
    payload = json.loads(out.read_text())
    rows = {(r["task"], r["method"]): r["value"] for r in payload["rows"]}
    assert 0.70 <= rows[("abr-fcc-test", "bba")] <= 0.80
    assert rows[("abr-fcc-test", "mpc")] > rows[("abr-fcc-test", "bba")]
    assert rows[("cjs", "fair")] < rows[("cjs", "fifo")]
    assert ("vp-test-all", "linear") in rows and ("vp-test-all", "velocity") in rows
