"""A job: one independent, seeded piece of work, named by what it computes.

A job is a module-level function and a JSON-ready config that holds everything the function needs,
its seed included, so the result cannot depend on which worker ran it. Its key is a hash of the
function's import path and the config: two jobs with the same key are the same computation, and a
result stored under a key is reused by a later run of the same job.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from hwsim.errors import ConfigError


def function_name(fn: Callable[..., Any]) -> str:
    """``module:qualname`` of a job function; a lambda or a function defined inside another is refused
    (a worker process could not import it)."""
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if not module or not qualname or "<" in qualname:
        raise ConfigError(f"job function {fn!r} must be a module-level function so that a worker can import it")
    return f"{module}:{qualname}"


def canonical_json(value: Any) -> str:
    """The JSON text of ``value`` with sorted keys and no spaces (what a key hashes)."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"a job config must be JSON data (numbers, strings, lists, dicts): {exc}") from exc


def job_key(fn: Callable[..., Any] | str, identity: Mapping[str, Any]) -> str:
    """The key of a job: 20 hex digits of SHA-256 over the function name and ``identity`` (its config)."""
    name = fn if isinstance(fn, str) else function_name(fn)
    return hashlib.sha256(canonical_json({"fn": name, "config": identity}).encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Job:
    """``fn(config)`` as a unit of work. ``config`` is JSON data carrying the job's seed and every setting;
    ``needs`` names the registered data sets it reads (checked, or shipped, on the worker before it runs);
    ``identity`` replaces ``config`` in the key when fields that cannot change the result should not make
    two jobs different (default: the config); ``label`` is for people."""

    fn: Callable[[dict[str, Any]], Any]
    config: Mapping[str, Any]
    label: str = ""
    needs: tuple[str, ...] = ()
    identity: Mapping[str, Any] | None = None
    key: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        canonical_json(self.config)
        if not self.key:
            object.__setattr__(self, "key", job_key(self.fn, self.config if self.identity is None else self.identity))
        if not self.label:
            object.__setattr__(self, "label", self.key[:10])

    @property
    def fn_name(self) -> str:
        """``module:qualname`` of the job function."""
        return function_name(self.fn)
