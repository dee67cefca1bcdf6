"""The baselines N2N is compared with, on the same task and the same student evaluation:

* :func:`random_search`: students drawn at random until as many *distinct* students as N2N evaluated
  have been scored. ``staged`` draws keep masks for the removal stage, then shrink factors over the
  best of them (N2N's two-stage structure without learning); ``joint`` draws a mask and factors at once.
* :func:`uniform_shrink`: every layer of the teacher shrunk by the same factor, the largest such student
  with at most a given number of parameters (N2N's, so it is never the bigger one).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from agents.n2n.layers import Arch, count_params
from agents.n2n.task import N2NTask
from agents.n2n.trainer import Scored, SearchState
from hwsim.errors import ConfigError

SEARCH_MODES = ("staged", "joint")


def _draw_distinct(task: N2NTask, state: SearchState, stage: str, budget: int, batch: int,
                   draw: Callable[[], Arch], max_draws: int, constrained: bool = True) -> None:
    """Draw students with ``draw`` until ``budget`` distinct ones of ``stage`` are scored (or ``max_draws``
    draws are spent: a space smaller than the budget), scoring ``batch`` new ones at a time."""
    draws = 0
    seen = state.seen.setdefault(stage, set())
    while len(seen) < budget and draws < max_draws:
        pending: dict[str, Arch] = {}
        while len(pending) < min(batch, budget - len(seen)) and draws < max_draws:
            arch = draw()
            draws += 1
            if arch.key() not in seen:
                pending.setdefault(arch.key(), arch)
        archs = list(pending.values())
        if not archs:
            break
        results = task.evaluate_many(archs)
        state.record(stage, archs, results, [task.reward(r, constrained) for r in results])


def random_search(task: N2NTask, budget: Sequence[int] | int, seed: int = 0, mode: str = "staged",
                  keep_prob: float = 0.5, batch: int = 5) -> SearchState:
    """Random search over students with the same distinct-student budget as a search it is compared with:
    ``budget`` is ``(removal, shrink)`` for ``staged`` or a total for ``joint``. Keep flags are drawn with
    probability ``keep_prob``, factors uniformly (the distributions N2N's policies start from). As in N2N,
    the removal stage ignores the task's size constraint and the shrink (or joint) stage applies it; the
    answer is :meth:`SearchState.final`."""
    if mode not in SEARCH_MODES:
        raise ConfigError(f"unknown random-search mode '{mode}'; choose one of {', '.join(SEARCH_MODES)}")
    rng = np.random.default_rng(seed)
    n_fac = len(task.factors)
    teacher = task.arch
    state = SearchState()

    def keep_mask(arch: Arch) -> list[int]:
        return (rng.random(len(arch)) < keep_prob).astype(int).tolist()

    def factors(arch: Arch) -> list[int]:
        return rng.integers(0, n_fac, len(arch)).tolist()

    if mode == "joint":
        total = int(budget if np.isscalar(budget) else sum(budget))

        def joint() -> Arch:
            removed = task.removal_arch(keep_mask(teacher))
            return task.shrink_arch(factors(removed), removed)

        _draw_distinct(task, state, "joint", total, batch, joint, max_draws=100 * max(total, 1))
        return state
    if np.isscalar(budget):
        raise ConfigError("a staged random search needs a (removal, shrink) budget")
    n_removal, n_shrink = (int(b) for b in budget)
    _draw_distinct(task, state, "removal", n_removal, batch, lambda: task.removal_arch(keep_mask(teacher)),
                   max_draws=100 * max(n_removal, 1), constrained=False)
    best = state.best.get("removal")
    base = best.arch if best is not None and best.reward > -1 else teacher
    _draw_distinct(task, state, "shrink", n_shrink, batch, lambda: task.shrink_arch(factors(base), base),
                   max_draws=100 * max(n_shrink, 1))
    return state


def uniform_arch(teacher: Arch, params: int, tol: float = 1e-4) -> Arch:
    """The teacher with every layer shrunk by one factor, the largest such student (found by bisection on
    the factor) with at most ``params`` parameters."""
    if params >= count_params(teacher):
        return teacher

    def shrunk(f: float) -> Arch:
        return teacher.shrink([f] * len(teacher))

    lo, hi = 1e-6, 1.0
    if count_params(shrunk(lo)) > params:
        raise ConfigError(f"no uniformly shrunk student has {params} parameters or fewer")
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        if count_params(shrunk(mid)) > params:
            hi = mid
        else:
            lo = mid
    return shrunk(lo)


def uniform_shrink(task: N2NTask, params: int) -> Scored:
    """The uniformly shrunk teacher with at most ``params`` parameters, evaluated and scored like a student."""
    arch = uniform_arch(task.arch, params)
    result = task.evaluate_many([arch])[0]
    return Scored(arch, result, task.reward(result))
