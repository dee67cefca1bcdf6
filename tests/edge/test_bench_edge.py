"""``hwsim bench edge``: the quick run end to end (no timing assertions), its JSON, argument errors."""

from __future__ import annotations

import json

import pytest

from hwsim.cli import main as hwsim_main
from hwsim.errors import ConfigError


def _check_rows(rows, models, batches, backends):
    measured = [r for r in rows if "e2e_us" in r]
    assert {(r["model"], r["backend"], r["batch"]) for r in measured} == \
        {(m, b, n) for m in models for b in backends for n in batches}
    _check_values(measured)


def _check_values(measured):
    for r in measured:
        assert r["e2e_us"] > 0 and r["resident_us"] > 0 and 0 <= r["test_acc"] <= 1 and r["threads"] == 1
        assert r["x_vs_torch"] > 0 and r["x_vs_ort"] > 0
        if r["backend"].startswith("tvm"):
            assert r["compile"]["verification"]["passed"] is True
            if r["method"] != "int8":  # int8 may move by a rounding step: checked with a wider tolerance
                assert r["match_torch_1e-4"] is True and r["verify_atol"] == 1e-4
        if r["backend"] != "onnxruntime" and r["method"] != "int8":  # int8 may flip a rounding step
            torch_row = next(t for t in measured if t["model"] == r["model"] and t["backend"] == "pytorch")
            assert r["test_acc"] == torch_row["test_acc"]


def test_quick_bench_end_to_end(private_cache):
    out = private_cache / "edge.json"
    code = hwsim_main(["bench", "edge", "--quick", "--models", "mlp,mlp-channel,ee_cnn", "--batches", "1",
                       "--repeat", "5", "--json", str(out)])
    assert code == 0
    payload = json.loads(out.read_text())
    assert payload["bench"] == "edge" and payload["threads"] == 1 and payload["machine"]["cpus"]
    _check_rows(payload["rows"], ["mlp", "mlp-channel", "ee_cnn"], [1], ["pytorch", "onnxruntime", "tvm"])
    comp = {c["model"]: c for c in payload["compression"]}
    assert comp["mlp-channel"]["params"] < comp["mlp"]["params"]
    assert "speedup_tvm" in comp["mlp-channel"]
    ee = payload["early_exit"]
    sweep = {p["threshold"]: p for p in ee["sweep"]}
    assert sweep[0.0]["exit_fractions"][0] == 1.0 and sweep[1.0]["exit_fractions"][-1] == 1.0
    assert sweep[1.0]["cut_vs_all_stages"] == 0.0
    assert sweep[1.0]["test_acc"] == ee["all_stages_acc"]
    assert sum(p["picked_on_val"] for p in ee["sweep"]) == 1
    assert ee["cond_error"] is None and sweep[1.0]["cond_acc"] == sweep[1.0]["test_acc"]
    acc = payload["acceptance"]
    assert acc["1_compiled_outputs_match_torch"]["float_rows_within_1e-4"] is True
    assert acc["1_tuned_tvm_beats_ort_batch1"]["passed_e2e"] is None  # no tuning in this run
    assert set(acc["3_early_exit_cut"]) >= {"cut_vs_all_stages", "acc_drop_pts", "passed"}


@pytest.mark.slow
def test_quick_bench_every_model_tuned(private_cache):
    out = private_cache / "edge.json"
    assert hwsim_main(["bench", "edge", "--quick", "--tune", "2", "--batches", "1,4", "--repeat", "5",
                       "--json", str(out)]) == 0
    payload = json.loads(out.read_text())
    from edge.bench import ALL_MODELS

    rows = payload["rows"]
    errors = [r for r in rows if "error" in r]
    ok = [r for r in rows if "e2e_us" in r]
    assert len(ok) + len(errors) == len(ALL_MODELS) * 4 * 2
    assert all(r["backend"].startswith("tvm") for r in errors)  # only a compile may be refused, and says why
    _check_values(ok)
    assert {r["backend"] for r in ok} == {"pytorch", "onnxruntime", "tvm", "tvm-tuned"}
    assert {c["method"] for c in payload["compression"]} >= {"lottery", "channel", "lowrank", "int8"}
    assert payload["acceptance"]["1_tuned_tvm_beats_ort_batch1"]["of"] == 4


def test_bad_arguments_are_config_errors(capsys):
    from edge.bench import main

    with pytest.raises(ConfigError, match="unknown model"):
        main(["--models", "resnet50"])
    with pytest.raises(ConfigError, match="batches"):
        main(["--batches", "one"])
    with pytest.raises(ConfigError, match="tune"):
        main(["--tune", "-1"])
    assert hwsim_main(["bench", "edge", "--models", "nope"]) == 2
    assert "unknown model" in capsys.readouterr().err
