"""Tuning database: keyed by model structure and target, reused without re-tuning."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import edge
from edge import tuning
from edge.errors import TuningError
from tests.edge import edge_models as em


def test_database_is_keyed_by_model_and_target(tmp_path):
    mlp = edge.import_model(em.mlp(), (torch.randn(1, 16),))
    cnn = edge.import_model(em.cnn(), (torch.randn(1, 1, 8, 8),))
    again = edge.import_model(em.mlp(), (torch.randn(1, 16),))
    assert mlp.structure_hash() == again.structure_hash()  # same structure, same key
    assert mlp.structure_hash() != cnn.structure_hash()
    a = tuning.database_dir(mlp.structure_hash(), "llvm-a", root=tmp_path)
    assert a == tuning.database_dir(mlp.structure_hash(), "llvm-a", root=tmp_path)
    assert a != tuning.database_dir(mlp.structure_hash(), "llvm-b", root=tmp_path)
    assert a != tuning.database_dir(cnn.structure_hash(), "llvm-a", root=tmp_path)


def test_warm_database_is_reused_without_tuning(tmp_path, monkeypatch):
    work = tmp_path / "db"
    work.mkdir()
    (work / tuning.RECORDS_FILE).write_text('["record"]\n["record"]\n')
    (work / tuning.KEY_FILE).write_text(json.dumps({"model_hash": "m", "target": "t", "trials": 8, "tasks": 2,
                                                    "seconds": 120.0}))

    def must_not_tune():
        raise AssertionError("tuning ran although the database was warm")

    monkeypatch.setattr(tuning, "_check_ffi", must_not_tune)
    result = tuning.tune(None, "t", 4, work, "m")
    assert result["reused"] and result["records"] == 2 and result["tuned_seconds"] == 120.0
    # more trials than the database holds, another model or another target: tuning is needed
    for trials, model, target in ((16, "m", "t"), (4, "other", "t"), (4, "m", "other")):
        with pytest.raises(AssertionError, match="tuning ran"):
            tuning.tune(None, target, trials, work, model)


def test_dynamic_shapes_cannot_be_tuned():
    from hwsim.errors import ConfigError

    with pytest.raises(ConfigError, match="static shapes"):
        edge.compile_model(em.mlp(), (torch.randn(1, 16),), dynamic_batch=True, tune_trials=2)


def test_tuning_a_board_needs_the_board():
    from hwsim.errors import ConfigError

    with pytest.raises(ConfigError, match="tune on the board"):
        edge.compile_model(em.mlp(), (torch.randn(1, 16),), target="rpi4", tune_trials=2)


def test_zero_trials_rejected_by_tune(tmp_path):
    with pytest.raises(TuningError):
        tuning.tune(None, "t", 0, tmp_path, "m")


@pytest.mark.slow
def test_real_tuning_then_warm_recompile(tmp_path):
    model = em.mlp()
    x = torch.randn(1, 16)
    first = edge.compile_model(model, (x,), tune_trials=2, tuning_db=tmp_path, num_threads=1)
    info = first.info["tuning"]
    assert info["records"] > 0 and not info["reused"] and info["tasks"] >= 1
    second = edge.compile_model(model, (x,), tune_trials=2, tuning_db=tmp_path, num_threads=1)
    assert second.info["tuning"]["reused"] and second.info["tuning"]["records"] == info["records"]
    xs = np.random.default_rng(0).standard_normal((1, 16)).astype("float32")
    np.testing.assert_allclose(second(xs), em.reference(model, xs), atol=1e-4)
    # applying the records without tuning (tune_trials=0, explicit database) gives the same model
    third = edge.compile_model(model, (x,), tuning_db=tmp_path)
    assert third.info["tuning"]["records"] == info["records"]
    np.testing.assert_allclose(third(xs), second(xs), atol=1e-6)


def test_task_budget_caps_light_tasks_only():
    assert tuning.task_budget(9.4e6, 256) == 256
    assert tuning.task_budget(8192, 256) == tuning.LIGHT_TRIALS
    assert tuning.task_budget(8192, 4) == 4
    assert tuning.task_budget(10, 256) == tuning.TINY_TRIALS
    # a task under 1 MFLOP that is a large share of a small model (the channel-pruned CNN's convolutions)
    assert tuning.task_budget(8e5, 256, model_flop=2e6) == 256
    assert tuning.task_budget(8e5, 256, model_flop=1e8) == tuning.LIGHT_TRIALS
    assert tuning.task_budget(2e4, 256, model_flop=1e5) == tuning.LIGHT_TRIALS  # a tiny task of a tiny module


@pytest.mark.slow
def test_identical_workloads_are_shared_across_models(tmp_path):
    first = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4)).eval()
    second = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 7)).eval()
    x = torch.randn(1, 16)
    a = edge.compile_model(first, (x,), tune_trials=2, tuning_db=tmp_path, num_threads=1).info["tuning"]
    assert a["records_imported"] == 0 and a["tasks_tuned"] == a["tasks"] == 2
    b = edge.compile_model(second, (x,), tune_trials=2, tuning_db=tmp_path, num_threads=1).info["tuning"]
    # the 16 -> 32 layer (matmul, bias, ReLU) is the same workload: its records come from the first database
    assert b["records_imported"] > 0 and b["tasks_tuned"] == 1 and b["tasks"] == 2
    xs = np.random.default_rng(0).standard_normal((1, 16)).astype("float32")
    again = edge.compile_model(second, (x,), tuning_db=tmp_path)
    np.testing.assert_allclose(again(xs), em.reference(second, xs), atol=1e-4)


def test_default_schedule_trace_replays_to_the_default_schedule():
    """The record committed for a task's default schedule rebuilds exactly that schedule."""
    import tvm
    from tvm.s_tir.meta_schedule.relax_integration import extract_tasks

    from edge.compile import prepare
    from edge.targets import resolve
    from edge.tuning_seed import default_schedule

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU()).eval()
    imported = edge.import_model(model, (torch.randn(1, 3, 12, 12),))
    target = resolve("host").tvm_target()
    with target:
        tasks = extract_tasks(tuning.inference_only(prepare(imported.mod, target)), target)
    conv = [t for t in tasks if "conv2d" in t.task_name]
    assert conv
    mod = conv[0].dispatched[0]
    sch = default_schedule(mod, target)
    assert sch is not None
    replayed = tvm.s_tir.Schedule(mod)
    sch.trace.apply_to_schedule(replayed, remove_postproc=False)
    tvm.ir.assert_structural_equal(replayed.mod, sch.mod)


@pytest.mark.slow
def test_tuned_build_keeps_the_default_schedules_it_does_not_beat(tmp_path):
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(16 * 12 * 12, 16)).eval()
    x = torch.randn(1, 3, 12, 12)
    compiled = edge.compile_model(model, (x,), tune_trials=2, tuning_db=tmp_path, num_threads=1)
    info = compiled.info["tuning"]
    assert info["default_records"] >= 2  # the convolution and the dense layer at least
    assert info["records"] >= info["default_records"]
    with torch.no_grad():
        np.testing.assert_allclose(compiled(x.numpy()), model(x).numpy(), rtol=1e-4, atol=1e-4)
