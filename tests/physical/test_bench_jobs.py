"""``hwsim bench physical`` and ``hwsim bench perturbation`` on :mod:`hwsim.jobs`: local worker processes give the
table of this process, and a bench with ``--store`` resumes, running only what is not finished."""

from __future__ import annotations

import json

from physical.bench import main as bench_physical
from physical.bench_perturbation import main as bench_perturbation

TINY = ["--quick", "--datasets", "digits", "--systems", "optical", "--methods", "mfff", "--seeds", "1",
        "--epochs", "1"]
CASES = ["--quick", "--profiles", "ideal", "--seeds", "1", "--before", "1", "--after", "1",
         "--variants", "local,pat-refit"]


def without_wall(value):
    """A bench payload without its wall-clock times (the only numbers that depend on where a run ran)."""
    if isinstance(value, dict):
        return {k: without_wall(v) for k, v in value.items() if k != "wall_s"}
    if isinstance(value, list):
        return [without_wall(v) for v in value]
    return value


def _payload(path):
    return json.loads(path.read_text())


def test_bench_physical_resumes_from_its_store(tmp_path, capsys):
    store = tmp_path / "store"
    assert bench_physical([*TINY, "--jobs", "1", "--store", str(store), "--json", str(tmp_path / "a.json")]) == 0
    first = _payload(tmp_path / "a.json")
    assert first["ran"] == len(list(store.glob("*.json"))) == len(first["runs"]) == 6 and first["skipped"] == 0
    # one run lost (as if the bench was interrupted before it finished): only that one runs again
    sorted(store.glob("*.json"))[0].unlink()
    capsys.readouterr()
    assert bench_physical([*TINY, "--workers", "2", "--store", str(store), "--json", str(tmp_path / "b.json")]) == 0
    again = _payload(tmp_path / "b.json")
    assert again["ran"] == 1 and again["skipped"] == 5
    assert "5 finished earlier and were skipped" in capsys.readouterr().out
    assert without_wall(again["rows"]) == without_wall(first["rows"])
    assert without_wall(again["runs"]) == without_wall(first["runs"])


def test_bench_perturbation_local_workers_match_this_process(tmp_path):
    assert bench_perturbation([*CASES, "--jobs", "1", "--json", str(tmp_path / "one.json")]) == 0
    assert bench_perturbation([*CASES, "--jobs", "2", "--json", str(tmp_path / "two.json")]) == 0
    one, two = _payload(tmp_path / "one.json"), _payload(tmp_path / "two.json")
    assert without_wall(two["rows"]) == without_wall(one["rows"]) and len(one["rows"]) == 2
    assert one["backend"] == "this process" and two["backend"] == "2 local worker processes"
    assert two["ran"] == 2 and {r["processes"] for r in two["placement"]} == {2}
