"""``hwsim sweep`` on a local two-node Ray cluster (acceptance 1 of issue 14): results equal to the local
run, a worker node killed mid-sweep, an interrupted sweep resumed; ``hwsim bench scale`` on the same cluster
(acceptance 2). Ray starts are slow: all slow tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.hwsim.ray_cluster import NODE, running_on, two_node_cluster, wait_until
from tests.test_sweep import ROOT, TINY, main, results_of, sweep_cli

pytestmark = pytest.mark.slow
GRID = [*TINY, "--seeds", "0-2"]  # 15 jobs: 3 seeds x (mfff, pat, digital, pat-off) + 3 logreg


@pytest.fixture(scope="module")
def cluster():
    yield from two_node_cluster(connect=False)


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "sweep"
    assert main([*GRID, "--out", str(out)]) == 0
    return results_of(out)


def _run(cluster, out, *extra, timeout=900):
    proc = sweep_cli(*GRID, "--out", str(out), "--ray", cluster.address, *extra)
    stdout, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return stdout


def test_sweep_on_two_nodes_equals_local(cluster, local, tmp_path):
    stdout = _run(cluster, tmp_path / "ray")
    assert results_of(tmp_path / "ray") == local and len(local) == 15
    assert "15 jobs ran on Ray (2 nodes, 2 CPUs)" in stdout, stdout


def test_interrupted_sweep_on_the_cluster_resumes(cluster, local, tmp_path):
    out = tmp_path / "cut"
    proc = sweep_cli(*GRID, "--out", str(out), "--ray", cluster.address)
    wait_until(lambda: len(list((out / "jobs").glob("*.json"))) >= 3 or proc.poll() is not None, 600,
               "three finished jobs")
    assert proc.poll() is None, proc.communicate()
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    done = len(list((out / "jobs").glob("*.json")))
    assert proc.returncode == 130 and "run the same command to resume" in err, err
    stdout = _run(cluster, out)
    assert f"{done} finished earlier and were skipped" in stdout and f"{15 - done} jobs ran" in stdout, stdout
    assert results_of(out) == local


def test_killed_worker_node_mid_sweep(cluster, local, tmp_path):
    out = tmp_path / "kill"
    proc = sweep_cli(*GRID, "--out", str(out), "--ray", cluster.address)
    killed: list[float] = []

    def kill_when_busy() -> None:
        end = time.monotonic() + 600
        while proc.poll() is None and time.monotonic() < end:
            if running_on(cluster.worker):  # a job is running on the worker node right now
                cluster.remove_node(cluster.worker, allow_graceful=False)
                killed.append(len(list((out / "jobs").glob("*.json"))))
                return
            time.sleep(0.1)

    watcher = threading.Thread(target=kill_when_busy)
    watcher.start()
    try:
        stdout, err = proc.communicate(timeout=900)
    finally:
        watcher.join()
        cluster.worker = cluster.add_node(**NODE)
    assert killed, "no job ran on the worker node"
    assert proc.returncode == 0, err
    assert killed[0] < 15  # mid-sweep
    assert results_of(out) == local and len(list((out / "jobs").glob("*.json"))) == 15
    head = next(line for line in stdout.splitlines() if " jobs ran on " in line)
    assert head.startswith("15 jobs ran") and "failed" not in head, stdout


def test_bench_scale_compares_local_and_ray_rows_with_equal_results(cluster, tmp_path):
    out = tmp_path / "scale.json"
    proc = subprocess.run([sys.executable, "-m", "hwsim.cli", "bench", "scale", "--quick", "--ray", cluster.address,
                           "--json", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(out.read_text())
    rows = {(r["work"], r["backend"], r["workers"]): r for r in payload["rows"]}
    assert set(rows) == {("sweep", "local", 1), ("sweep", "local", 2), ("sweep", "ray", 1), ("sweep", "ray", 2),
                         ("trivial", "local", 1), ("trivial", "ray", 1), ("trivial", "ray", 2)}
    assert all(r["same_results"] for r in rows.values()), payload["rows"]
    assert rows[("sweep", "local", 1)]["speedup"] == 1.0
    assert all(r["speedup"] > 0 and r["wall_s"] > 0 for k, r in rows.items() if k[0] == "sweep")
    assert rows[("sweep", "ray", 2)]["jobs"] == len(payload["sweep_jobs"]) > 1
    assert set(payload["ray_overhead_ms_per_job"]) == {"1 in flight", "2 in flight"}
    assert "2 nodes" in payload["ray_cluster"], payload["ray_cluster"]
