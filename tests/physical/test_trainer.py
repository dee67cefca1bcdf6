"""The run loop: run folder, measurement and FLOP accounting, validation split and early stopping that never
read the test split, checkpoint/resume equal to an uninterrupted run."""

from __future__ import annotations

import dataclasses
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
    return {f"{i}.{k}": v.clone() for i, m in enumerate(trainer.method.modules()) for k, v in m.state_dict().items()}


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
    # digital FLOPs: every epoch the same work; a prediction costs the blocks' matrix products
    assert result.flops_train > 0 and result.flops_twin == 0
    assert lines[0]["flops_train"] * 3 == result.flops_train
    width, inputs = 20, 20 + 20  # block 0: [P(h); h] of 20 + 20 values -> 20
    assert result.flops_per_prediction == 7 * 2 * (2 * inputs * width)  # labels x blocks x one matrix product
    assert [h["rows"] for h in result.history] == [2 * 206 * 2 * e for e in (1, 2, 3)]
    hs = json.loads((run / "handshake.json").read_text())
    assert hs["device"]["name"] == "reference" and hs["schema_hash"]


def test_same_seed_same_result_other_seed_other_result(tmp_path):
    a = train(cfg_for(tmp_path, epochs=2, name="a"), record=False)
    b = train(cfg_for(tmp_path, epochs=2, name="b"), record=False)
    c = train(cfg_for(tmp_path, epochs=2, seed=1), record=False)
    assert (a.test_acc, a.train_acc) == (b.test_acc, b.train_acc)
    assert (a.train_acc, a.test_acc) != (c.train_acc, c.test_acc)


RESUMED = [("mfff", "bench", {}), ("pat", None, {}),
           ("local", "bench", {"val_fraction": 0.2, "lr_schedule": "cosine", "passes": 2, "inner_steps": 2}),
           ("sf", None, {"val_fraction": 0.2, "class_vectors": "mean"}), ("sf", "lab", {"val_fraction": 0.2}),
           ("mlp", None, {"val_fraction": 0.2, "lr_schedule": "cosine", "mlp_hidden": "16,16", "physical": False})]


@pytest.mark.parametrize("method,profile,kw", RESUMED)
def test_resume_ends_where_an_uninterrupted_run_ends(tmp_path, method, profile, kw):
    if profile == "lab":  # a medium that decorrelates within the run: the device's state must resume too
        kw = {**kw, "system": "optical?n_in=20&n_out=32&pool=1&decorrelation_time=2&decorrelation_step=0.2"}
    cfg_for_kw = lambda **more: cfg_for(tmp_path, method, profile=profile, **kw, **more)  # noqa: E731
    full = Trainer(cfg_for_kw(name="full"))
    r_full = full.run()
    w_full = weights(full)
    full.close()

    part = Trainer(cfg_for_kw(name="part"))
    part.run(until=2)  # "interrupted" after epoch 2: its checkpoint is on disk
    part.close()
    resumed = Trainer(cfg_for_kw(name="part"), resume=True)
    assert resumed.epoch == 2
    r_res = resumed.run()
    for k, v in w_full.items():
        torch.testing.assert_close(weights(resumed)[k], v, rtol=0, atol=0)
    assert (r_res.test_acc, r_res.train_acc, r_res.measurements) == (r_full.test_acc, r_full.train_acc,
                                                                      r_full.measurements)
    assert (r_res.best_epoch, r_res.val_acc, r_res.flops_train, r_res.history) == (
        r_full.best_epoch, r_full.val_acc, r_full.flops_train, r_full.history)
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


def test_resume_needs_a_run_record(tmp_path):
    with pytest.raises(ConfigError, match="record=True"):
        Trainer(cfg_for(tmp_path), resume=True, record=False)


@pytest.mark.parametrize("method,profile", [("local", None), ("sf", "lab"), ("mfff", None), ("mlp", None)])
def test_early_stopping_never_reads_the_test_split(tmp_path, method, profile):
    """A test split of garbage (random features, random labels, same shape) changes the test accuracy and
    nothing else: the same validation history, kept epoch, stopping epoch, weights and device rows."""
    system = "optical?n_in=20&n_out=32&pool=1&decorrelation_time=5" if profile else "reference?n_in=20&n_out=20"
    cfg = cfg_for(tmp_path, method, system=system, profile=profile, epochs=8, val_fraction=0.25, patience=2,
                  eval_every=1, physical=method != "mlp", mlp_hidden="16")
    runs = []
    for poison in (False, True):
        trainer = Trainer(cfg, record=False)
        if poison:
            rng = np.random.default_rng(99)
            d = trainer.data
            trainer.data = dataclasses.replace(d, x_test=rng.normal(0, 50, d.x_test.shape).astype(np.float32),
                                               y_test=rng.integers(0, d.n_classes, len(d.y_test)))
        result = trainer.run()
        runs.append((result, weights(trainer)))
        trainer.close()
    (clean, w_clean), (bad, w_bad) = runs
    assert [h["val_acc"] for h in clean.history] == [h["val_acc"] for h in bad.history]
    assert (clean.best_epoch, clean.epochs, clean.val_acc, clean.measurements) == (
        bad.best_epoch, bad.epochs, bad.val_acc, bad.measurements)
    for k, v in w_clean.items():
        torch.testing.assert_close(w_bad[k], v, rtol=0, atol=0)
    assert [h["test_acc"] for h in clean.history] != [h["test_acc"] for h in bad.history]


def test_early_stopping_keeps_the_best_validation_epoch(tmp_path):
    trainer = Trainer(cfg_for(tmp_path, "local", epochs=30, val_fraction=0.25, patience=3, lr=0.05), record=False)
    result = trainer.run()
    vals = [h["val_acc"] for h in result.history]
    assert result.best_epoch == 1 + int(np.argmax(vals)) and result.val_acc == max(vals)
    assert result.epochs == len(vals) and (result.epochs == 30 or result.epochs - result.best_epoch == 3)
    assert result.test_acc == pytest.approx(result.history[result.best_epoch - 1]["test_acc"])
    assert len(trainer.data.y_val) == round(0.25 * 206) and len(trainer.data.y_train) == 206 - len(trainer.data.y_val)
    trainer.close()


@pytest.mark.parametrize("best_now, last_now, keeps_last", [(0.40, 0.60, True), (0.60, 0.60, False)])
def test_end_of_training_keeps_what_validates_best_on_the_device_now(tmp_path, best_now, last_now, keeps_last):
    trainer = Trainer(cfg_for(tmp_path, "local", epochs=30, val_fraction=0.25, patience=3, lr=0.05), record=False)
    trainer.setup()
    while not trainer.stopped and trainer.epoch < 30:
        trainer._observe(trainer.train_epoch())
    assert trainer.best["epoch"] != trainer.epoch  # stopped by patience: the best epoch is behind
    last = weights(trainer)
    vals_before = trainer.counts["val"]
    # the two re-validations at the end, on the device as it is now: the best epoch's weights, then the last's
    scripted = iter([best_now, last_now])
    trainer.validate = lambda: next(scripted)  # type: ignore[method-assign]
    result = trainer.run()
    assert next(scripted, None) is None  # both candidates were validated again
    kept = weights(trainer)
    if keeps_last:
        assert result.best_epoch == trainer.epoch and result.val_acc == last_now
        for k, v in last.items():
            torch.testing.assert_close(kept[k], v, rtol=0, atol=0)
    else:
        assert result.best_epoch == trainer.best["epoch"] and result.val_acc == best_now
        assert any(not torch.equal(kept[k], v) for k, v in last.items())
    assert trainer.counts["val"] == vals_before  # scripted here; a real validate counts its rows as val
    trainer.close()
