"""Finished jobs on disk, one JSON file per job, so an interrupted run resumes where it stopped.

``<root>/<key>.json`` holds the job's function, config, result, where it ran and how long it took. A
record is written atomically (a crash leaves the old file or the new one) by the process that drives
the run, right when the job's result arrives; a job whose record is present is not run again.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Iterator

from hwsim.jobs.job import Job, canonical_json
from hwsim.runs import write_text_atomic

FORMAT = "hwsim-job/1"


def normalised(result: Any) -> Any:
    """``result`` as it reads back from JSON (tuples become lists, numpy scalars and arrays plain numbers and
    lists), so a result is the same whether it was just computed or read from a record."""
    return json.loads(json.dumps(result, default=_plain, allow_nan=True))


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"a job result must be JSON data, got {type(value).__name__}")


class ResultStore:
    """Records of finished jobs under ``root`` (``None``: kept in memory only, nothing resumes)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else None
        self._memory: dict[str, dict[str, Any]] = {}
        if self.root is not None:
            self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path | None:
        """The record file of a job key (``None`` for an in-memory store)."""
        return None if self.root is None else self.root / f"{key}.json"

    def load(self, job: Job) -> dict[str, Any] | None:
        """The record of ``job`` if it finished before with the same function and config, else ``None``."""
        if self.root is None:
            return self._memory.get(job.key)
        path = self.path(job.key)
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            return None  # absent, or unreadable: the job runs again and its record is rewritten
        if (record.get("format") != FORMAT or record.get("fn") != job.fn_name
                or canonical_json(record.get("config")) != canonical_json(job.config)):
            return None
        return record

    def save(self, job: Job, result: Any, where: dict[str, Any], wall_s: float) -> dict[str, Any]:
        """Write the record of a finished job and return it (``result`` normalised to JSON data)."""
        record = {"format": FORMAT, "key": job.key, "label": job.label, "fn": job.fn_name,
                  "config": normalised(dict(job.config)), "result": normalised(result), "where": where,
                  "wall_s": round(float(wall_s), 4), "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
        if self.root is None:
            self._memory[job.key] = record
        else:
            write_text_atomic(self.path(job.key), json.dumps(record, indent=1, allow_nan=True) + "\n")
        return record

    def records(self) -> Iterator[dict[str, Any]]:
        """Every readable record in the store."""
        if self.root is None:
            yield from self._memory.values()
            return
        for path in sorted(self.root.glob("*.json")):
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if record.get("format") == FORMAT:
                yield record
