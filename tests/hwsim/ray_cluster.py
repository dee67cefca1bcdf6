"""A local Ray cluster of two nodes on this machine (one CPU each) for the cluster tests, always shut down."""

from __future__ import annotations

import time
from typing import Any, Iterator

import pytest

NODE = {"num_cpus": 1, "object_store_memory": 80 * 2**20}


def two_node_cluster(connect: bool = True) -> Iterator[Any]:
    """Start a head and a worker node; yield the ``ray.cluster_utils.Cluster`` (this process connected as a
    driver when ``connect``); shut everything down afterwards, also on failure."""
    pytest.importorskip("ray")
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args=dict(NODE))
    try:
        cluster.worker = cluster.add_node(**NODE)
        cluster.wait_for_nodes()
        if connect:
            ray.init(address=cluster.address, logging_level="WARNING", log_to_driver=False)
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


def running_on(node: Any, prefix: str = "ray::hwsim job") -> list[str]:
    """Titles of the Ray worker processes of ``node`` now executing a job (``ray::<task name>``)."""
    import psutil

    titles = []
    for proc in psutil.Process(node.all_processes["raylet"][0].process.pid).children(recursive=True):
        try:
            cmd = proc.cmdline()
        except psutil.Error:
            continue
        if cmd and cmd[0].startswith(prefix):
            titles.append(cmd[0])
    return titles


def wait_until(predicate: Any, timeout: float, what: str, poll: float = 0.2) -> None:
    """Poll ``predicate`` until it is true; fail the test after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)
