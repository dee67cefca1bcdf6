"""The table of hwsim's gymnasium environments and the one function that registers them.

Each entry names its class by an entry-point string (``module:Class``), so registering imports
nothing heavy: an environment's module, its data and its dependencies load on ``gymnasium.make``.
Add an environment by adding a row to :data:`ENVIRONMENTS`.
"""

from __future__ import annotations

from typing import Any

# id -> keyword arguments of gymnasium.register (entry_point, kwargs, max_episode_steps, ...)
ENVIRONMENTS: dict[str, dict[str, Any]] = {
    # Adaptive bitrate streaming (Pensieve simulator semantics).
    "hwsim/ABR-v0": {  # training: Norway HSDPA train split, random trace and start, delay noise
        "entry_point": "agents.envs.abr:ABREnv",
        "vector_entry_point": "agents.envs.abr_vector:ABRVectorEnv",
        "kwargs": {"trace_set": "hsdpa-train", "train": True},
    },
    "hwsim/ABR-FCC-Test-v0": {  # NetLLM's FCC test protocol: fixed starts, no noise, traces in order
        "entry_point": "agents.envs.abr:ABREnv",
        "vector_entry_point": "agents.envs.abr_vector:ABRVectorEnv",
        "kwargs": {"trace_set": "fcc-test", "train": False},
    },
    "hwsim/ABR-HSDPA-Test-v0": {  # held-out Norway HSDPA traces, start row 1, no noise, in order
        "entry_point": "agents.envs.abr:ABREnv",
        "vector_entry_point": "agents.envs.abr_vector:ABRVectorEnv",
        "kwargs": {"trace_set": "hsdpa-test", "train": False},
    },
    # Viewport prediction for 360-degree video (NetLLM's split by video and user).
    "hwsim/Viewport-v0": {
        "entry_point": "agents.envs.viewport:ViewportEnv",
        "kwargs": {"split": "train", "shuffle": True},
    },
    "hwsim/Viewport-Test-v0": {
        "entry_point": "agents.envs.viewport:ViewportEnv",
        "kwargs": {"split": "test", "shuffle": False},
    },
    # Cluster job scheduling (Decima semantics) on TPC-H job DAGs.
    "hwsim/ClusterScheduling-v0": {  # NetLLM / spark-sched-sim setting: 50 executors, 200 jobs
        "entry_point": "agents.envs.cluster:ClusterSchedulingEnv",
        "kwargs": {"num_executors": 50, "num_jobs": 200},
    },
    "hwsim/ClusterScheduling-Small-v0": {  # a short episode for quick training and tests
        "entry_point": "agents.envs.cluster:ClusterSchedulingEnv",
        "kwargs": {"num_executors": 10, "num_jobs": 10},
    },
    # N2N network-to-network compression (Ashok et al. 2018) of a teacher from the agents.n2n zoo.
    "hwsim/N2NRemoval-v0": {  # stage 1: keep/remove every layer in one step
        "entry_point": "agents.envs.n2n_removal:N2NRemovalEnv",
        "kwargs": {"teacher": "resnet", "dataset": "digits"},
    },
    "hwsim/N2NShrink-v0": {  # stage 2: a shrink factor for every layer in one step
        "entry_point": "agents.envs.n2n_shrink:N2NShrinkEnv",
        "kwargs": {"teacher": "resnet", "dataset": "digits"},
    },
    "hwsim/N2NSequential-v0": {  # one layer per step: remove, or keep at a shrink factor (AMC-style)
        "entry_point": "agents.envs.n2n_sequential:N2NSequentialEnv",
        "kwargs": {"teacher": "resnet", "dataset": "digits"},
    },
}


def register_all(table: dict[str, dict[str, Any]] | None = None) -> list[str]:
    """Register every environment of ``table`` (default :data:`ENVIRONMENTS`) not yet known to
    gymnasium; returns the ids registered by this call."""
    from gymnasium.envs.registration import register, registry

    added = []
    for env_id, spec in (ENVIRONMENTS if table is None else table).items():
        if env_id in registry:
            continue
        register(id=env_id, **spec)
        added.append(env_id)
    return added
