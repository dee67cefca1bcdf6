from __future__ import annotations

import json

from hwsim.report import mean_std, table, time_call, write_bench
from hwsim.runs import RunRecord


def test_run_record_logs_checkpoints_and_plots(tmp_path):
    run = RunRecord("r1", root=tmp_path)
    for step in range(5):
        run.log(step=step, acc=step / 10)
    run.save_checkpoint({"step": 4, "w": [1, 2]})
    assert run.load_checkpoint()["step"] == 4
    assert [m["step"] for m in run.metrics()] == list(range(5))
    png = run.plot("step", ["acc"])
    assert png is not None and png.read_bytes()[:4] == b"\x89PNG"
    resumed = RunRecord("r1", root=tmp_path, resume=True)
    resumed.truncate_after("step", 2)
    assert [m["step"] for m in resumed.metrics()] == [0, 1, 2]
    fresh = RunRecord("r1", root=tmp_path)
    assert fresh.metrics() == []


def test_write_bench_json_and_table(tmp_path, capsys):
    rows = [{"name": "a", "x": 1.23456}, {"name": "b", "x": None}]
    payload = write_bench(tmp_path / "b.json", "demo", rows, note="n")
    out = capsys.readouterr().out
    assert "name" in out and "1.235" in out
    saved = json.loads((tmp_path / "b.json").read_text())
    assert saved["rows"] == rows and saved["note"] == "n" and "machine" in saved and payload["bench"] == "demo"
    assert table([]) == "(no rows)"


def test_time_call_and_mean_std():
    calls = []
    stats = time_call(lambda: calls.append(1), repeat=7, warmup=2)
    assert len(calls) == 9 and stats["n"] == 7 and stats["p10"] <= stats["median"] <= stats["p90"]
    assert mean_std([1.0, 3.0]) == (2.0, 2 ** 0.5)
    assert mean_std([5.0]) == (5.0, 0.0)


def test_truncate_after_is_atomic_and_plot_leaves_the_backend(tmp_path, monkeypatch):
    import os
    import subprocess
    import sys

    import hwsim.runs as runs

    run = RunRecord("r2", root=tmp_path)
    for step in range(4):
        run.log(step=step)
    before = run.metrics_path.read_bytes()

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(runs.os, "replace", crash)
    try:
        run.truncate_after("step", 1)
    except OSError:
        pass
    monkeypatch.undo()
    assert run.metrics_path.read_bytes() == before  # the crash mid-rewrite lost nothing
    code = ("import matplotlib; matplotlib.use('svg'); from hwsim.runs import RunRecord; "
            f"r = RunRecord('p', root={str(tmp_path)!r}); "
            "r.log(step=0, acc=1.0); assert r.plot('step', ['acc']) is not None; "
            "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend()")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "MPLBACKEND": ""})
