"""The ONNX conformance bench: its comparison is ONNX's, and a short run classifies cases."""

from __future__ import annotations

import json

import numpy as np

from edge.conformance import ConformanceConfig, matches, run, select, summarise


def test_matches_follows_the_onnx_runner():
    assert matches([np.array([1.0, 2.0])], [np.array([1.0, 2.0 + 1e-4])], rtol=1e-3, atol=1e-7)[0]
    ok, why = matches([np.array([1.0, 2.1])], [np.array([1.0, 2.0])], rtol=1e-3, atol=1e-7)
    assert not ok and "1 of 2 elements differ" in why
    assert not matches([np.zeros(3)], [np.zeros(4)], 1e-3, 1e-7)[0]
    assert not matches([np.zeros(3, "float32")], [np.zeros(3, "int64")], 1e-3, 1e-7)[0]
    assert matches([[np.ones(2), np.zeros(1)]], [[np.ones(2), np.zeros(1)]], 1e-3, 1e-7)[0]  # sequences


def test_selection_is_seeded_and_filtered():
    names = [f"test_op{k}" for k in range(50)] + ["other"]
    a = select(names, ConformanceConfig(sample=10, seed=3, filter="test_op"))
    assert a == select(names, ConformanceConfig(sample=10, seed=3, filter="test_op")) and len(a) == 10
    assert all(n.startswith("test_op") for n in a)


def test_summary_counts_classes():
    results = {"a": {"hwsim": {"class": "pass"}, "ort": {"class": "pass"}},
               "b": {"hwsim": {"class": "hwsim_error", "error": "CompileStageError", "stage": "import"},
                     "ort": {"class": "pass"}},
               "c": {"hwsim": {"class": "raw_exception", "error": "crash"}, "ort": {"class": "error"}}}
    s = summarise(results)
    assert s["hwsim"]["pass"] == 1 and s["hwsim_error_kinds"] == {"CompileStageError[import]": 1}
    assert s["raw_exceptions"] == ["c"] and s["onnxruntime"]["pass"] == 2 and s["pass_both"] == 1


def test_a_short_run(tmp_path):
    """Three node tests through a worker process: the relu cases pass in both runtimes."""
    out = tmp_path / "c.json"
    run(ConformanceConfig(filter="test_relu", timeout=300), str(out))
    data = json.loads(out.read_text())
    cases = data["cases"]
    assert cases and all(c["hwsim"]["class"] == "pass" for c in cases.values())
    assert all(c["ort"]["class"] == "pass" for c in cases.values())
