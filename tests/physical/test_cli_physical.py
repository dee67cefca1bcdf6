"""``hwsim train`` (in process and through a served board), ``hwsim bench physical`` and
``hwsim bench perturbation`` on tiny settings."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from hwsim.cli import main as hwsim
from hwsim.registry import create_device
from physical.trainer import make_config, train

SPEC = "reference?n_in=20&n_out=20"


def test_hwsim_train_prints_accuracy_beside_the_ablation(tmp_path, capsys):
    rc = hwsim(["train", "--dataset", "vowels7", "--system", SPEC, "--epochs", "3", "--batch-size", "64",
                "--runs", str(tmp_path), "--seed", "2"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "mfff (reference" in out and "digital (physical off, ablation)" in out and "logistic regression" in out
    run = tmp_path / f"vowels7-{SPEC.replace('?', '_').replace('&', '_')}-mfff-s2"
    assert (run / "result.json").exists() and (run / "checkpoint.pt").exists()
    # --resume of a finished run trains nothing more and reports the same accuracy
    rc = hwsim(["train", "--dataset", "vowels7", "--system", SPEC, "--epochs", "3", "--batch-size", "64",
                "--runs", str(tmp_path), "--seed", "2", "--resume", "--no-ablation"])
    again = capsys.readouterr().out
    assert rc == 0 and again.splitlines()[-1].split("%")[0] == out.splitlines()[-3].split("%")[0]


def test_hwsim_train_reports_user_errors(capsys):
    assert hwsim(["train", "--system", "no-such-board", "--epochs", "1"]) == 2
    assert "known devices" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        hwsim(["train", "--method", "sgd"])


@pytest.mark.parametrize("profile", [None, "bench"])
def test_a_served_board_trains_like_the_in_process_device(tmp_path, profile):
    """Same seed and profile: the profile on the board (as 'hwsim serve --profile' does) or none at all."""
    from hwsim.server import DeviceServer

    seed = 0
    cfg = make_config("vowels7", system=SPEC, epochs=2, batch_size=64, seed=seed, eval_train_samples=40,
                      profile=profile or "ideal", runs_root=str(tmp_path))
    local = train(cfg, record=False)
    board = create_device(SPEC, **({"profile": profile, "profile_seed": seed} if profile else {}))
    server = DeviceServer(board)
    url = server.serve_pty()
    try:
        remote = train(replace(cfg, device_url=url, profile=None, name="remote"))
    finally:
        server.stop()
    assert remote.test_acc == local.test_acc and remote.train_acc == local.train_acc
    assert remote.measurements == local.measurements
    handshake = json.loads((tmp_path / "remote" / "handshake.json").read_text())
    assert handshake["url"] == url and handshake["hello"]  # the board's HELLO is kept with the run


def test_bench_physical_quick_has_every_method_with_its_ablation(tmp_path):
    from physical.bench import main as bench

    out = tmp_path / "bench.json"
    assert bench(["--quick", "--datasets", "digits", "--systems", "optical", "--seeds", "2", "--jobs", "1",
                  "--epochs", "1", "--json", str(out)]) == 0
    payload = json.loads(out.read_text())
    rows = {r["method"]: r for r in payload["rows"]}
    assert set(rows) == {"mfff", "pat", "insilico"}
    for r in rows.values():
        assert r["seeds"] == 2 and len(r["seed_accs"]) == 2
        assert 0 <= r["acc"] <= 1 and 0 <= r["abl_acc"] <= 1 and 0 <= r["logreg"] <= 1
        assert r["meas_train"] > 0 and r["per_pred"] > 0
    assert rows["mfff"]["ablation"] == "digital" and rows["pat"]["ablation"] == "pat-off"
    assert rows["pat"]["abl_acc"] == rows["insilico"]["abl_acc"]  # one shared backprop ablation
    assert rows["pat"]["meas_twin"] == rows["insilico"]["meas_twin"] == 600
    # 74 overlaid inputs on a 64-pixel SLM: two device rows per layer; mfff tries all 10 labels
    assert rows["mfff"]["per_pred"] == 10 * 2 * 2 and rows["pat"]["per_pred"] == 2 * 2


def test_bench_perturbation_quick_reports_before_and_after(tmp_path):
    from physical.perturbation import main as bench

    out = tmp_path / "pert.json"
    assert bench(["--quick", "--profiles", "ideal", "--seeds", "1", "--before", "1", "--after", "1", "--jobs", "1",
                  "--json", str(out)]) == 0
    rows = {r["method"]: r for r in json.loads(out.read_text())["rows"]}
    assert set(rows) == {"mfff", "pat-stale", "pat-refit", "mfff-control", "pat-control"}
    assert rows["pat-refit"]["meas_refit"] == 600 and rows["pat-stale"]["meas_refit"] == 0
    # without the jump, the accuracy right after is the accuracy before: same weights, same device
    assert rows["mfff-control"]["right_after"] == rows["mfff-control"]["before"]
    for r in rows.values():
        assert {"before", "right_after", "after_1"} <= set(r)
