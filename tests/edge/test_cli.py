"""``hwsim edge``: compile a module:factory, run and bench the artifact, list targets."""

from __future__ import annotations

import json

import numpy as np

from hwsim.cli import main


def test_compile_run_bench(tmp_path, capsys):
    out = tmp_path / "mlp"
    assert main(["edge", "compile", "tests.edge.edge_models:mlp_factory", "--target", "host", "-o", str(out)]) == 0
    assert "verified on this machine" in capsys.readouterr().out
    x = tmp_path / "x.npy"
    np.save(x, np.ones((1, 16), "float32"))
    y = tmp_path / "y.npy"
    assert main(["edge", "run", str(out), "--input", str(x), "--output", str(y)]) == 0
    from tests.edge import edge_models as em

    np.testing.assert_allclose(np.load(y), em.reference(em.mlp(), np.ones((1, 16), "float32")), atol=1e-4)
    report = tmp_path / "bench.json"
    assert main(["edge", "bench", str(out), "--repeat", "3", "--number", "2", "--json", str(report)]) == 0
    data = json.loads(report.read_text())
    assert data["rows"][0]["target"] == "host" and data["rows"][0]["n"] == 3


def test_user_errors_are_messages(tmp_path, capsys):
    assert main(["edge", "compile", "no_such_module:factory", "-o", str(tmp_path / "x")]) == 2
    assert "cannot import" in capsys.readouterr().err
    assert main(["edge", "compile", "tests.edge.edge_models:mlp_factory", "-t", "tpu", "-o", str(tmp_path)]) == 2
    assert "unknown target" in capsys.readouterr().err
    assert main(["edge", "run", str(tmp_path / "missing")]) == 2
    assert "manifest.json is missing" in capsys.readouterr().err


def test_targets_listing(capsys):
    assert main(["edge", "targets"]) == 0
    out = capsys.readouterr().out
    for name in ("host", "jetson-orin", "rpi5", "cuda:sm_XX"):
        assert name in out
