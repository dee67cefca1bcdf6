"""TPC-H job DAGs with measured Spark task durations (Decima's profiling data, the ``cjs`` data set).

A job is one of 22 queries at one of 7 input sizes. Each stage has a task count and task durations
(ms) measured with several executor counts, in three kinds: the first wave of tasks, later waves,
and the first task on a fresh executor (with JVM warm-up). As in spark-sched-sim, fresh durations are
removed from the first wave, and an executor level with no first-wave data borrows the nearest
lower level's.
"""

from __future__ import annotations

import gzip
import json
from bisect import bisect_left
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any

import numpy as np

from hwsim.data import fetch
from hwsim.errors import ConfigError, DataError

QUERY_SIZES = ("2g", "5g", "10g", "20g", "50g", "80g", "100g")
NUM_QUERIES = 22


@dataclass(frozen=True)
class StageTemplate:
    """One stage of a query: task count and task durations (ms) by executor level."""

    num_tasks: int
    first_wave: dict[int, tuple[float, ...]]
    rest_wave: dict[int, tuple[float, ...]]
    fresh: dict[int, tuple[float, ...]]
    levels: tuple[int, ...]
    mean_ms: float


@dataclass(frozen=True)
class JobTemplate:
    """One query at one input size: its stages and their dependencies (parent -> child)."""

    query: int
    size: str
    stages: tuple[StageTemplate, ...]
    parents: tuple[tuple[int, ...], ...]
    children: tuple[tuple[int, ...], ...]

    @property
    def name(self) -> str:
        """``q<query>-<size>``."""
        return f"q{self.query}-{self.size}"

    @cached_property
    def edges(self) -> np.ndarray:
        """``(E, 2)`` read-only int array of (parent, child) stage indices."""
        edges = np.array([(p, c) for p, kids in enumerate(self.children) for c in kids], dtype=np.int64)
        edges = edges.reshape(-1, 2)
        edges.setflags(write=False)
        return edges

    @property
    def total_work_ms(self) -> float:
        """Estimated executor time of the whole job (tasks x mean duration)."""
        return sum(s.num_tasks * s.mean_ms for s in self.stages)


def _durations(table: dict[str, Any]) -> dict[int, tuple[float, ...]]:
    return {int(k): tuple(float(d) for d in v) for k, v in table.items()}


def _clean_first_wave(first: dict[int, tuple[float, ...]],
                      fresh: dict[int, tuple[float, ...]]) -> dict[int, tuple[float, ...]]:
    """First-wave durations without the fresh-executor ones; empty levels take the nearest lower level's."""
    clean: dict[int, tuple[float, ...]] = {}
    previous: tuple[float, ...] = ()
    for level in sorted(first):
        pending: dict[float, int] = {}
        for d in fresh.get(level, ()):
            pending[d] = pending.get(d, 0) + 1
        kept = []
        for d in first[level]:
            if pending.get(d, 0) > 0:
                pending[d] -= 1
            else:
                kept.append(d)
        clean[level] = tuple(kept) if kept else previous
        previous = clean[level]
    return clean


def _check_dag(adj: np.ndarray, where: str) -> None:
    indeg = adj.sum(axis=0).astype(int)
    ready = [i for i in range(len(adj)) if indeg[i] == 0]
    seen = 0
    while ready:
        node = ready.pop()
        seen += 1
        for child in np.flatnonzero(adj[node]):
            indeg[child] -= 1
            if indeg[child] == 0:
                ready.append(int(child))
    if seen != len(adj):
        raise DataError(f"{where}: the stage graph has a cycle; it must be a DAG")


def parse_query(query: int, size: str, entry: dict[str, Any]) -> JobTemplate:
    """Build a :class:`JobTemplate` from one query entry of ``tpch_<size>.json.gz``."""
    where = f"TPC-H query {query} at {size}"
    try:
        adj = np.asarray(entry["adj_mat"], dtype=np.int64)
        n = int(entry["num_stages"])
        durations = {int(k): v for k, v in entry["task_duration"].items()}
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{where}: malformed entry ({exc}); expected num_stages, adj_mat, task_duration") from exc
    if adj.shape != (n, n) or sorted(durations) != list(range(n)):
        raise DataError(f"{where}: adj_mat is {adj.shape} and task_duration has stages {sorted(durations)}; "
                        f"both must cover {n} stages")
    _check_dag(adj, where)
    stages = []
    for i in range(n):
        raw = durations[i]
        first, rest, fresh = (_durations(raw[k]) for k in ("first_wave", "rest_wave", "fresh_durations"))
        if not first:
            raise DataError(f"{where}: stage {i} has no first-wave durations")
        level = next(iter(raw["first_wave"]))
        num_tasks = len(raw["first_wave"][level]) + len(raw["rest_wave"].get(level, ()))
        clean = _clean_first_wave(first, fresh)
        pool = [d for table in (clean, rest) for v in table.values() for d in v] or \
               [d for v in fresh.values() for d in v]
        if num_tasks < 1 or not pool:
            raise DataError(f"{where}: stage {i} has no tasks or no durations")
        stages.append(StageTemplate(num_tasks, clean, rest, fresh, tuple(sorted(first)), float(np.mean(pool))))
    parents = tuple(tuple(int(p) for p in np.flatnonzero(adj[:, j])) for j in range(n))
    children = tuple(tuple(int(c) for c in np.flatnonzero(adj[i])) for i in range(n))
    return JobTemplate(query, size, tuple(stages), parents, children)


def load_templates(sizes: tuple[str, ...] = QUERY_SIZES) -> dict[tuple[int, str], JobTemplate]:
    """Every (query, size) job template of the given input sizes."""
    unknown = set(sizes) - set(QUERY_SIZES)
    if unknown or not sizes:
        raise ConfigError(f"unknown TPC-H sizes {sorted(unknown) or '(none given)'}; choose from {QUERY_SIZES}")
    out: dict[tuple[int, str], JobTemplate] = {}
    for size in sizes:
        out.update(_load_size(size))
    return out


@cache
def _load_size(size: str) -> dict[tuple[int, str], JobTemplate]:
    path = fetch("cjs") / f"tpch_{size}.json.gz"
    try:
        with gzip.open(path, "rt") as fh:
            table = json.load(fh)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path} is not gzipped JSON of TPC-H queries: {exc}") from exc
    out = {}
    for q in range(1, NUM_QUERIES + 1):
        if str(q) not in table:
            raise DataError(f"{path} has no query {q}")
        out[(q, size)] = parse_query(q, size, table[str(q)])
    return out


def executor_level(levels: tuple[int, ...], executors: int, u: float) -> int:
    """The measured executor level to draw durations from for a job with ``executors`` executors:
    the level itself when measured, else one of the two neighbouring levels, the nearer one more
    likely (``u`` is a uniform draw in [0, 1))."""
    i = bisect_left(levels, executors)
    if i == 0:
        return levels[0]
    if i == len(levels):
        return levels[-1]
    hi = levels[i]
    if hi == executors:
        return hi
    lo = levels[i - 1]
    return lo if u * (hi - lo) < hi - executors else hi


def sample_job_sequence(rng: np.random.Generator, num_jobs: int, mean_interarrival_ms: float = 25000.0,
                        sizes: tuple[str, ...] = QUERY_SIZES) -> list[tuple[JobTemplate, float]]:
    """A job sequence as spark-sched-sim draws it: the first job at time 0, then exponential
    inter-arrival times; each job a uniformly drawn query and input size."""
    templates = load_templates(tuple(sizes))
    jobs = []
    t = 0.0
    for _ in range(int(num_jobs)):
        query = 1 + int(rng.integers(NUM_QUERIES))
        size = sizes[int(rng.integers(len(sizes)))]
        jobs.append((templates[(query, size)], t))
        t += float(rng.exponential(mean_interarrival_ms))
    return jobs
