"""The run loop: run folder, measurement accounting, checkpoint/resume equal to an uninterrupted run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hwsim.errors import ConfigError
from physical.trainer import Trainer, make_config, train


def cfg_for(tmp_path, method="mfff", **kw):  # type: ignore[no-untyped-def]
    settings = dict(system="reference?n_in=20&n_out=20", method=method, epochs=4, batch_size=64, bp_batch_size=64,
                    twin_samples=300, twin_epochs=5, eval_every=1, eval_train_samples=50, runs_root=str(tmp_path))
    settings.update(kw)
    return make_config("vowels7", **settings)


def weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in trainer.method.blocks.state_dict().items()}


def test_run_folder_and_measurement_accounting(tmp_path):
    cfg = cfg_for(tmp_path, epochs=3)
    result = train(cfg)
    run = tmp_path / cfg.run_name()
    for name in ("metrics.jsonl", "checkpoint.pt", "handshake.json", "config.json", "result.json", "curves.png"):
        assert (run / name).exists(), name
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in lines] == [1, 2, 3]
    assert all("test_acc" in m and "measurements" in m for m in lines)
    # training: positive + negative data, once per layer, every epoch; evaluation: labels x layers per sample
    assert result.measurements_train == 3 * 2 * 206 * 2
    assert result.measurements_eval == 3 * (52 + 50) * 7 * 2
    assert result.measurements == result.measurements_train + result.measurements_eval
    assert lines[-1]["measurements"] == result.measurements
    hs = json.loads((run / "handshake.json").read_text())
    assert hs["device"]["name"] == "reference" and hs["schema_hash"]


def test_same_seed_same_result_other_seed_other_result(tmp_path):
    a = train(cfg_for(tmp_path, epochs=2, name="a"), record=False)
    b = train(cfg_for(tmp_path, epochs=2, name="b"), record=False)
    c = train(cfg_for(tmp_path, epochs=2, seed=1), record=False)
    assert (a.test_acc, a.train_acc) == (b.test_acc, b.train_acc)
    assert (a.train_acc, a.test_acc) != (c.train_acc, c.test_acc)


@pytest.mark.parametrize("method,profile", [("mfff", "bench"), ("pat", None)])
def test_resume_ends_where_an_uninterrupted_run_ends(tmp_path, method, profile):
    full = Trainer(cfg_for(tmp_path, method, profile=profile, name="full"))
    r_full = full.run()
    w_full = weights(full)
    full.close()

    part = Trainer(cfg_for(tmp_path, method, profile=profile, name="part"))
    part.run(until=2)  # "interrupted" after epoch 2: its checkpoint is on disk
    part.close()
    resumed = Trainer(cfg_for(tmp_path, method, profile=profile, name="part"), resume=True)
    assert resumed.epoch == 2
    r_res = resumed.run()
    for k, v in w_full.items():
        torch.testing.assert_close(weights(resumed)[k], v, rtol=0, atol=0)
    assert (r_res.test_acc, r_res.train_acc, r_res.measurements) == (r_full.test_acc, r_full.train_acc,
                                                                      r_full.measurements)
    resumed.close()
    lines = (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3, 4]


def test_resume_refuses_changed_settings(tmp_path):
    Trainer(cfg_for(tmp_path, name="r", epochs=1)).run()
    with pytest.raises(ConfigError, match="lr"):
        Trainer(cfg_for(tmp_path, name="r", epochs=2, lr=0.1), resume=True)
    # more epochs is allowed: that is how a finished run is extended
    t = Trainer(cfg_for(tmp_path, name="r", epochs=2), resume=True)
    assert t.epoch == 1
    t.close()


def test_digital_ablation_never_opens_a_device(tmp_path):
    cfg = cfg_for(tmp_path, system="no-such-system").ablation()
    assert cfg.method == "digital" and not cfg.uses_device
    result = train(cfg, record=False)
    assert result.measurements == 0 and result.measurements_per_prediction == 0
    assert 0.0 <= result.test_acc <= 1.0


def test_unknown_names_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="known devices"):
        train(cfg_for(tmp_path, system="no-such-system"), record=False)
    with pytest.raises(ConfigError, match="method"):
        train(cfg_for(tmp_path, method="sgd"), record=False)
    with pytest.raises(ConfigError, match="data set"):
        make_config("cifar")
    with pytest.raises(ConfigError, match="input map"):
        train(cfg_for(tmp_path, input_map="log"), record=False)


def test_logreg_baseline(tmp_path):
    r = train(cfg_for(tmp_path, method="logreg"), record=False)
    assert r.measurements == 0 and r.test_acc > 0.8  # the 7-vowel subset is nearly linearly separable
    np.testing.assert_equal(r.epochs, 0)
