"""The table of hwsim's gymnasium environments and the one function that registers them.

Each entry names its class by an entry-point string (``module:Class``), so registering imports
nothing heavy: an environment's module, its data and its dependencies load on ``gymnasium.make``.
Add an environment by adding a row to :data:`ENVIRONMENTS`.
"""

from __future__ import annotations

from typing import Any

from gymnasium.envs.registration import register, registry

# Episode limits (``max_episode_steps``, a TimeLimit), each above the longest episode the registered arguments
# allow, so an episode that ends by itself is terminated and never also flagged truncated; the limit only
# cuts a run-away episode. Pass max_episode_steps to gymnasium.make along with larger settings.
ABR_STEPS = 47 + 1  # 48 chunks, the first downloaded by reset: 47 decisions
VIEWPORT_STEPS = 1500  # windows of a trajectory < its rows (the longest shipped trajectory has 1467)
MAX_TASKS_PER_JOB = 3717  # every decision launches >= 1 task; the largest TPC-H job has 3717 tasks
N2N_MAX_LAYERS = 64  # one decision per teacher layer; the zoo's deepest teacher has fewer
N2N_ONE_SHOT = 1 + 1  # the removal and shrink episodes are one step

# id -> keyword arguments of gymnasium.register (entry_point, kwargs, max_episode_steps, ...)
ENVIRONMENTS: dict[str, dict[str, Any]] = {
    # Adaptive bitrate streaming (Pensieve simulator semantics).
    "hwsim/ABR-v0": {  # training: Norway HSDPA train split, random trace and start, delay noise
        "entry_point": "agents.abr.env:ABREnv",
        "vector_entry_point": "agents.abr.vector:ABRVectorEnv",
        "kwargs": {"trace_set": "hsdpa-train", "train": True},
        "max_episode_steps": ABR_STEPS,
    },
    "hwsim/ABR-FCC-Test-v0": {  # NetLLM's FCC test protocol: fixed starts, no noise, traces in order
        "entry_point": "agents.abr.env:ABREnv",
        "vector_entry_point": "agents.abr.vector:ABRVectorEnv",
        "kwargs": {"trace_set": "fcc-test", "train": False},
        "max_episode_steps": ABR_STEPS,
    },
    "hwsim/ABR-HSDPA-Test-v0": {  # held-out Norway HSDPA traces, start row 1, no noise, in order
        "entry_point": "agents.abr.env:ABREnv",
        "vector_entry_point": "agents.abr.vector:ABRVectorEnv",
        "kwargs": {"trace_set": "hsdpa-test", "train": False},
        "max_episode_steps": ABR_STEPS,
    },
    # Viewport prediction for 360-degree video (NetLLM's split by video and user).
    "hwsim/Viewport-v0": {
        "entry_point": "agents.envs.viewport:ViewportEnv",
        "vector_entry_point": "agents.envs.viewport_vector:ViewportVectorEnv",
        "kwargs": {"split": "train", "shuffle": True},
        "max_episode_steps": VIEWPORT_STEPS,
    },
    "hwsim/Viewport-Test-v0": {
        "entry_point": "agents.envs.viewport:ViewportEnv",
        "vector_entry_point": "agents.envs.viewport_vector:ViewportVectorEnv",
        "kwargs": {"split": "test", "shuffle": False},
        "max_episode_steps": VIEWPORT_STEPS,
    },
    # Cluster job scheduling (Decima semantics) on TPC-H job DAGs.
    "hwsim/ClusterScheduling-v0": {  # NetLLM / spark-sched-sim setting: 50 executors, 200 jobs
        "entry_point": "agents.envs.cluster:ClusterSchedulingEnv",
        "vector_entry_point": "agents.envs.cluster_vector:ClusterSchedulingVectorEnv",
        "kwargs": {"num_executors": 50, "num_jobs": 200},
        "max_episode_steps": 200 * MAX_TASKS_PER_JOB + 1,
    },
    "hwsim/ClusterScheduling-Small-v0": {  # a short episode for quick training and tests
        "entry_point": "agents.envs.cluster:ClusterSchedulingEnv",
        "vector_entry_point": "agents.envs.cluster_vector:ClusterSchedulingVectorEnv",
        "kwargs": {"num_executors": 10, "num_jobs": 10},
        "max_episode_steps": 10 * MAX_TASKS_PER_JOB + 1,
    },
    # N2N network-to-network compression (Ashok et al. 2018) of a teacher from the agents.n2n zoo.
    "hwsim/N2NRemoval-v0": {  # stage 1: keep/remove every layer in one step
        "entry_point": "agents.envs.n2n_removal:N2NRemovalEnv",
        "vector_entry_point": "agents.envs.n2n_vector:N2NRemovalVectorEnv",
        "kwargs": {"teacher": "resnet", "dataset": "digits"},
        "max_episode_steps": N2N_ONE_SHOT,
    },
    "hwsim/N2NShrink-v0": {  # stage 2: a shrink factor for every layer in one step
        "entry_point": "agents.envs.n2n_shrink:N2NShrinkEnv",
        "vector_entry_point": "agents.envs.n2n_vector:N2NShrinkVectorEnv",
        "kwargs": {"teacher": "resnet", "dataset": "digits"},
        "max_episode_steps": N2N_ONE_SHOT,
    },
    "hwsim/N2NSequential-v0": {  # one layer per step: remove, or keep at a shrink factor (AMC-style)
        "entry_point": "agents.envs.n2n_sequential:N2NSequentialEnv",
        "vector_entry_point": "agents.envs.n2n_vector:N2NSequentialVectorEnv",
        "kwargs": {"teacher": "resnet", "dataset": "digits"},
        "max_episode_steps": N2N_MAX_LAYERS,
    },
}


def register_all(table: dict[str, dict[str, Any]] | None = None) -> list[str]:
    """Register every environment of ``table`` (default :data:`ENVIRONMENTS`) not yet known to
    gymnasium; returns the ids registered by this call."""
    added = []
    for env_id, spec in (ENVIRONMENTS if table is None else table).items():
        if env_id in registry:
            continue
        register(id=env_id, **spec)
        added.append(env_id)
    return added
