"""``hwsim sweep`` on the local back end: the grid, its ablations and baselines, resume, interrupt."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hwsim.cli.sweep import build_parser, grid_axes, main, parse_seeds, plan
from hwsim.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--dataset", "digits", "--system", "optical", "--method", "mfff,pat", "--seeds", "0-1", "--epochs", "1",
        "--max-train", "100", "--max-test", "50", "--twin-samples", "200", "--twin-epochs", "5"]


def results_of(out: Path) -> dict[str, dict]:
    """Every job's result in a sweep folder, without its wall-clock, by job key."""
    found = {}
    for path in (out / "jobs").glob("*.json"):
        record = json.loads(path.read_text())
        found[record["key"]] = {k: v for k, v in record["result"].items() if k != "wall_s"}
    return found


def sweep_cli(*argv: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hwsim.cli", "sweep", *argv], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, **kw)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The tiny sweep run once in this process: its folder."""
    out = tmp_path_factory.mktemp("sweep") / "ref"
    assert main([*TINY, "--out", str(out)]) == 0
    return out


def test_seed_lists():
    assert parse_seeds("0-3,7,2") == [0, 1, 2, 3, 7]
    assert parse_seeds("5") == [5]
    for bad in ("a", "3-1", "1-b", ""):
        with pytest.raises(ConfigError):
            parse_seeds(bad)


def _plan(argv):
    args, rest = build_parser().parse_known_args(argv)
    return plan(grid_axes(args), rest, with_companions=not args.no_ablation)


def test_grid_with_shared_companions():
    cells, jobs = _plan(["--dataset", "digits", "--system", "optical,acoustic", "--method", "mfff,pat",
                         "--seeds", "0-2", "--epochs", "1", "--grid", "lr=1e-3,2e-3"])
    assert len(cells) == 2 * 2 * 2 and all(len(c["runs"]) == 3 for c in cells)
    assert {c["axes"]["lr"] for c in cells} == {"1e-3", "2e-3"}
    distinct = {j.key: j for j in jobs}
    # per seed and lr: 4 device runs; the ablations (digital for mfff, pat without the device) do not
    # depend on the system, so one each; logistic regression one (its config holds lr, so one per lr)
    assert len(distinct) == 3 * 2 * (4 + 2 + 1)
    methods = sorted(j.config["method"] for j in distinct.values())
    assert methods.count("logreg") == 6 and methods.count("digital") == 6 and methods.count("mfff") == 12
    assert all(j.label for j in jobs) and len(jobs) == 24 * 3  # each run listed with its ablation and logreg


def test_options_a_sweep_refuses(capsys):
    for argv, match in ((["--seed", "3"], "--seeds"), (["--resume"], "resumes by itself"),
                        (["--grid", "lr"], "NAME=V1,V2"), (["--name", "x"], "named by its settings")):
        with pytest.raises(ConfigError, match=match):
            main([*TINY, *argv])
    with pytest.raises(ConfigError, match="one job at a time"):
        main([*TINY, "--device-url", "loop://", "--jobs", "2"])


def test_sweep_table_and_rerun_skips_everything(reference, capsys):
    summary = json.loads((reference / "summary.json").read_text())
    rows = {r["method"]: r for r in summary["rows"]}
    assert set(rows) == {"mfff", "pat"} and all(r["seeds"] == 2 for r in rows.values())
    assert rows["mfff"]["ablation"] is not None and rows["pat"]["logreg"] == rows["mfff"]["logreg"]
    assert summary["ran"] == len(list((reference / "jobs").glob("*.json"))) == 10
    assert main([*TINY, "--out", str(reference)]) == 0
    out = capsys.readouterr().out
    assert "0 jobs ran" in out and "10 finished earlier and were skipped" in out
    assert json.loads((reference / "summary.json").read_text())["rows"] == summary["rows"]


@pytest.mark.slow  # the pool itself is checked in tests/hwsim/test_jobs.py
def test_two_local_workers_match_this_process(reference, tmp_path):
    assert main([*TINY, "--out", str(tmp_path / "pool"), "--jobs", "2"]) == 0
    assert results_of(tmp_path / "pool") == results_of(reference)


def test_interrupted_sweep_resumes(reference, tmp_path):
    out = tmp_path / "cut"
    proc = sweep_cli(*TINY, "--out", str(out))
    deadline = time.monotonic() + 300
    while len(list((out / "jobs").glob("*.json"))) < 2:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the sweep finished no job in 300 s"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C at a terminal reaches the whole process group
    _, err = proc.communicate(timeout=120)
    done = len(list((out / "jobs").glob("*.json")))
    assert proc.returncode == 130 and "run the same command to resume" in err, err
    assert 2 <= done < 10
    again = sweep_cli(*TINY, "--out", str(out))
    stdout, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    assert f"{10 - done} jobs ran" in stdout and f"{done} finished earlier and were skipped" in stdout
    assert results_of(out) == results_of(reference)
