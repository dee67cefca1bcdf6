"""``hwsim train`` (in process and through a served board; its options derived from the config), ``hwsim
bench physical`` and ``hwsim bench perturbation`` on tiny settings."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from hwsim.cli import main as hwsim
from hwsim.registry import create_device
from physical.trainer import make_config, train

SPEC = "reference?n_in=20&n_out=20"


def test_hwsim_train_prints_accuracy_beside_the_five_peers(tmp_path, capsys):
    rc = hwsim(["train", "--dataset", "vowels7", "--system", SPEC, "--epochs", "3", "--batch-size", "64",
                "--runs", str(tmp_path), "--seed", "2"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "mfff (reference" in out
    for peer in ("ablation (digital, no device)", "rf (rf)", "mlp-matched (mlp, no device)",
                 "mlp-2x256 (mlp, no device)", "logreg (logreg, no device)"):
        assert peer in out
    run = tmp_path / f"vowels7-{SPEC.replace('?', '_').replace('&', '_')}-mfff-s2"
    assert (run / "result.json").exists() and (run / "checkpoint.pt").exists()
    # --resume of a finished run trains nothing more and reports the same accuracy
    rc = hwsim(["train", "--dataset", "vowels7", "--system", SPEC, "--epochs", "3", "--batch-size", "64",
                "--runs", str(tmp_path), "--seed", "2", "--resume", "--no-peers"])
    again = capsys.readouterr().out
    assert rc == 0
    main_line = [line for line in out.splitlines() if "mfff (reference" in line]
    assert [line for line in again.splitlines() if "mfff (reference" in line] == main_line


def test_every_config_field_is_an_option_with_its_help():
    import dataclasses

    from physical.cli import build_parser, config_from_args
    from physical.config import PhysicalTrainConfig

    parser = build_parser()
    dests = {a.dest: a for a in parser._actions}
    for f in dataclasses.fields(PhysicalTrainConfig):
        if f.metadata.get("cli", True):
            assert f.name in dests and dests[f.name].help == f.metadata["help"], f.name
            if "choices" in f.metadata:
                assert tuple(dests[f.name].choices) == tuple(f.metadata["choices"])
    cfg = config_from_args(parser.parse_args(["--no-skip", "--passes", "3", "--lr", "0.01", "--method", "sf",
                                              "--runs", "elsewhere", "--no-physical"]))
    assert (cfg.skip, cfg.passes, cfg.lr, cfg.method, cfg.runs_root, cfg.physical) == (
        False, 3, 0.01, "sf", "elsewhere", False)
    default = config_from_args(parser.parse_args([]))
    assert default == make_config("mnist1d")  # no option given: the data set's preset


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


def test_bench_physical_quick_has_every_method_with_its_peers(tmp_path):
    from physical.bench import main as bench

    out = tmp_path / "bench.json"
    assert bench(["--quick", "--datasets", "digits", "--systems", "optical", "--seeds", "2", "--jobs", "1",
                  "--epochs", "1", "--json", str(out)]) == 0
    payload = json.loads(out.read_text())
    rows = {r["method"]: r for r in payload["rows"]}
    assert set(rows) == {"mfff", "local", "sf", "pat", "insilico"}
    for r in rows.values():
        assert r["seeds"] == 2 and len(r["seed_accs"]) == 2
        for peer in ("acc", "ablation", "rf", "mlp-matched", "mlp-2x256", "logreg"):
            assert 0 <= r[peer] <= 1, peer
        assert r["rows"] > 0 and r["per_pred"] > 0 and r["gflop"] > 0 and r["hw_h"] > 0
        assert r["row_time_s"] == 5e-3 and "SLM" in r["row_time_source"]
        assert r["curve"] and {"rows", "flops", "test_acc"} <= set(r["curve"][0])
    assert rows["mfff"]["ablation_method"] == "digital-off" and rows["pat"]["ablation_method"] == "pat-off"
    assert rows["pat"]["ablation"] == rows["insilico"]["ablation"]  # one shared backprop ablation
    assert rows["local"]["mlp-2x256"] == rows["pat"]["mlp-2x256"]  # the same digital peer, run once
    assert rows["pat"]["rows_twin"] == rows["insilico"]["rows_twin"] == 600
    assert rows["pat"]["gflop_twin"] > 0 and rows["local"]["gflop_twin"] == 0
    # 74 overlaid inputs on a 64-pixel SLM: two device rows in the first block, one in the second (width 64);
    # mfff tries all 10 labels; local and sf see the 64 features alone: one row per block
    assert rows["mfff"]["per_pred"] == 10 * (2 + 1) and rows["pat"]["per_pred"] == 2 + 1
    assert rows["local"]["per_pred"] == rows["sf"]["per_pred"] == 2
    assert payload["plots"] and all(Path(p).exists() for p in payload["plots"])
    assert {v["method"] for v in payload["verdicts"]} == {"mfff", "local", "sf"}


def test_bench_perturbation_quick_reports_before_and_after(tmp_path):
    from physical.bench_perturbation import main as bench

    out = tmp_path / "pert.json"
    assert bench(["--quick", "--profiles", "ideal", "--seeds", "1", "--before", "1", "--after", "1", "--jobs", "1",
                  "--variants", "local,pat-stale,pat-refit,local-control", "--json", str(out)]) == 0
    rows = {r["method"]: r for r in json.loads(out.read_text())["rows"]}
    assert set(rows) == {"local", "pat-stale", "pat-refit", "local-control"}
    assert rows["pat-refit"]["meas_refit"] == 600 and rows["pat-stale"]["meas_refit"] == 0
    # without the jump, the accuracy right after is the accuracy before: same weights, same device
    assert rows["local-control"]["right_after"] == rows["local-control"]["before"]
    for r in rows.values():
        assert {"before", "right_after", "after_1"} <= set(r)


def test_bench_perturbation_decorrelation_tracks_the_medium(tmp_path):
    from physical.bench_perturbation import main as bench

    out = tmp_path / "decor.json"
    assert bench(["--kind", "decorrelation", "--quick", "--seeds", "1", "--before", "1", "--after", "2",
                  "--decorrelation-time", "60", "--refit-every", "1", "--jobs", "1",
                  "--variants", "local,pat-stale,pat-refit,local-control", "--json", str(out)]) == 0
    rows = {r["method"]: r for r in json.loads(out.read_text())["rows"]}
    assert rows["local"]["corr_last"] < 0.9 and rows["local-control"]["corr_last"] == 1.0
    points = rows["local"]["points"][0]
    assert len(points) == 3 and points[0]["hours"] < points[-1]["hours"]
    # the twin refitted after epochs 1 and 2, 600 rows each, counted in the learning rows
    assert rows["pat-refit"]["rows"] - rows["pat-stale"]["rows"] == 2 * 600
