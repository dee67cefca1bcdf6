"""The job runner on a real two-node Ray cluster on this machine: results equal to the local run, jobs on
both nodes, data shipped to a worker that lacks it, a worker node killed mid-run, and ``hwsim bench physical
--quick`` on the cluster giving the local table."""

from __future__ import annotations

import json
import threading

import pytest

from hwsim.jobs import Job, RayBackend, run_jobs
from hwsim.jobs.probes import seeded_value
from tests.hwsim.ray_cluster import running_on, two_node_cluster
from tests.physical.test_bench_jobs import without_wall


@pytest.fixture(scope="module")
def cluster():
    yield from two_node_cluster(connect=True)


def test_two_nodes_give_the_local_results_and_ship_data(cluster, tmp_path):
    jobs = [Job(seeded_value, {"seed": s, "sleep_s": 0.5}, label=f"s{s}", needs=("vowels",)) for s in range(6)]
    local = run_jobs(jobs).results
    # the workers' data folder is empty: the vowels data set reaches them through the object store
    report = run_jobs(jobs, RayBackend(worker_data=str(tmp_path / "worker-data")), store=tmp_path / "jobs")
    assert report.results == local
    assert sum(r["jobs"] for r in report.placement()) == 6
    assert {r["node"] for r in report.placement()} <= {n["NodeID"][:12] for n in __import__("ray").nodes()}
    assert len(report.placement()) == 2, report.placement()  # 1 CPU per node: the second job spills over
    assert (tmp_path / "worker-data" / "vowels" / "vowdata.dat").exists()
    assert "2 nodes, 2 CPUs" in report.backend


def test_a_worker_without_data_and_no_shipping_fails_clearly(cluster, tmp_path):
    report = run_jobs([Job(seeded_value, {"seed": 0}, needs=("vowels",))],
                      RayBackend(worker_data=str(tmp_path / "nothing"), ship_data=False), raise_on_failure=False)
    (job, err) = report.failed[0]
    assert err["hwsim"] and "'vowels' is not on worker" in err["message"] and "--no-ship-data" in err["message"]


@pytest.mark.slow
def test_killed_worker_node_costs_only_its_job(cluster):
    jobs = [Job(seeded_value, {"seed": s, "sleep_s": 1.5}, label=f"k{s}") for s in range(8)]
    local = [seeded_value({**j.config, "sleep_s": 0}) for j in jobs]
    killed = []

    def kill_when_busy():
        for _ in range(600):
            if running_on(cluster.worker):
                cluster.remove_node(cluster.worker, allow_graceful=False)
                killed.append(True)
                return
            threading.Event().wait(0.1)

    watcher = threading.Thread(target=kill_when_busy)
    watcher.start()
    try:
        report = run_jobs(jobs, RayBackend(max_retries=3))
    finally:
        watcher.join()
        cluster.worker = cluster.add_node(num_cpus=1, object_store_memory=80 * 2**20)
    assert killed, "no job ever ran on the worker node"
    assert report.results == local and report.ran == 8 and not report.failed


@pytest.mark.slow
def test_bench_physical_on_two_nodes_equals_local(cluster, tmp_path):
    from physical.bench import main as bench

    tiny = ["--quick", "--datasets", "digits", "--systems", "acoustic", "--methods", "mfff", "--seeds", "2",
            "--epochs", "1"]
    assert bench([*tiny, "--jobs", "1", "--json", str(tmp_path / "local.json")]) == 0
    # the workers' data folder is empty: the acoustic system's data reach them through the object store
    assert bench([*tiny, "--ray", cluster.address, "--worker-data", str(tmp_path / "worker-data"),
                  "--json", str(tmp_path / "ray.json")]) == 0
    local, ray = (json.loads((tmp_path / f"{name}.json").read_text()) for name in ("local", "ray"))
    assert len(local["rows"]) == 1 and local["rows"][0]["seeds"] == 2
    for key in ("rows", "runs", "verdicts"):
        assert without_wall(ray[key]) == without_wall(local[key]), key
    assert ray["ran"] == len(local["runs"]) == 12  # 2 seeds x (mfff and its five peers)
    assert "2 nodes, 2 CPUs" in ray["backend"] and len(ray["placement"]) == 2, ray["placement"]
    assert (tmp_path / "worker-data" / "phyll_acoustic").is_dir()
