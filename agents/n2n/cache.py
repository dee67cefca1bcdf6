"""Evaluated students, keyed by architecture, so a repeated action costs nothing.

A cache belongs to one *context*: everything besides the architecture that a student's result
depends on (teacher, data, distillation budget, seeds, latency target). Results are kept in memory
and, when a path is given, appended to a JSONL file that a later run with the same context reloads
(rows of another context in the same file are ignored).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Iterable, Mapping


@dataclass
class StudentResult:
    """What evaluating one student gave: validity, size, cost, accuracies after distillation, time spent."""

    key: str
    arch: dict
    valid: bool
    reason: str = ""
    params: int = 0
    macs: int = 0
    val_acc: float = 0.0
    test_acc: float = 0.0
    latency_est_s: float = 0.0
    latency_s: float | None = None
    seconds: float = 0.0
    cpu_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StudentResult:
        """Rebuild from :meth:`to_json` output (unknown keys are ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def context_key(context: Mapping[str, Any]) -> str:
    """Short hash of a context description."""
    return hashlib.sha256(json.dumps(context, sort_keys=True, default=str).encode()).hexdigest()[:16]


class StudentCache:
    """Architecture key -> :class:`StudentResult` for one context; counts hits and misses."""

    def __init__(self, context: Mapping[str, Any], path: str | Path | None = None) -> None:
        self.context = context_key(context)
        self.path = Path(path) if path is not None else None
        self._results: dict[str, StudentResult] = {}
        self.hits = 0
        self.misses = 0
        if self.path is not None and self.path.exists():
            for line in self.path.read_text().splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:  # a line cut short by an interrupted run
                    continue
                if row.get("context") == self.context:
                    result = StudentResult.from_json(row["result"])
                    self._results[result.key] = result

    def __len__(self) -> int:
        return len(self._results)

    def __contains__(self, key: str) -> bool:
        return key in self._results

    def lookup(self, key: str) -> StudentResult | None:
        """The cached result of ``key`` (counted as a hit), or ``None`` (counted as a miss)."""
        result = self._results.get(key)
        if result is None:
            self.misses += 1
        else:
            self.hits += 1
        return result

    def get(self, key: str) -> StudentResult:
        """The cached result of ``key`` (not counted; ``KeyError`` when absent)."""
        return self._results[key]

    def put(self, result: StudentResult) -> None:
        """Remember ``result`` (and append it to the file, if any)."""
        if result.key in self._results:
            return
        self._results[result.key] = result
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a") as fh:
                fh.write(json.dumps({"context": self.context, "result": result.to_json()}) + "\n")

    def update(self, results: Iterable[StudentResult]) -> None:
        """Remember several results."""
        for r in results:
            self.put(r)

    def results(self) -> list[StudentResult]:
        """Every cached result, in insertion order."""
        return list(self._results.values())

    def stats(self) -> dict[str, int]:
        """Entries, hits and misses."""
        return {"entries": len(self), "hits": self.hits, "misses": self.misses}
