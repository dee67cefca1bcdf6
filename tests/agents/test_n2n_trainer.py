"""The N2N trainer, its run folder and resume, the student cache, the baselines, the rollout pools,
the ``hwsim compress n2n`` command and (slow) the bench, latency measurement and export."""

from __future__ import annotations

import json

import pytest
import torch

from agents.n2n.cache import StudentCache, StudentResult
from agents.n2n.distill import DistillConfig
from agents.n2n.layers import count_params
from agents.n2n.reinforce import ReinforceConfig
from agents.n2n.reward import n2n_reward
from agents.n2n.search import random_search, uniform_arch, uniform_shrink
from agents.n2n.task import N2NTask, TaskConfig
from agents.n2n.teachers import teacher_arch
from agents.n2n.trainer import N2NConfig, N2NTrainer
from hwsim.errors import ConfigError

QUICK = TaskConfig(teacher="resnet", dataset="digits", quick=True, distill=DistillConfig(epochs=1))


@pytest.fixture(scope="module")
def task():
    torch.set_num_threads(1)
    return N2NTask(QUICK)


def test_trainer_writes_the_run_and_resumes(tmp_path, task):
    cfg = N2NConfig(task=QUICK, removal_updates=1, shrink_updates=1, reinforce=ReinforceConfig(rollouts=2),
                    final_epochs=1, name="run", root=str(tmp_path))
    results = N2NTrainer(cfg, task=task).run()
    run = tmp_path / "run"
    for name in ("metrics.jsonl", "checkpoint.pt", "results.json", "reward_curve.png", "best_student.pt"):
        assert (run / name).exists(), name
    saved = json.loads((run / "results.json").read_text())
    assert saved["best"]["arch"] == results["best"]["arch"]
    best = results["best"]
    assert best["params_ratio"] == pytest.approx(best["params"] / results["teacher"]["params"])
    assert best["test_acc_drop"] == pytest.approx(results["teacher"]["test_acc"] - best["final"]["test_acc"])
    assert 1 <= results["students_evaluated"] <= 4 and results["rollouts"] == 4
    # resume: two more shrink updates on top of the checkpoint
    more = N2NConfig(**{**cfg.__dict__, "shrink_updates": 3, "resume": True})
    trainer = N2NTrainer(more, task=task)
    assert trainer.done == {"removal": 1, "shrink": 1}
    trainer.search()
    assert trainer.done == {"removal": 1, "shrink": 3}
    lines = [json.loads(text) for text in (run / "metrics.jsonl").read_text().splitlines()]
    assert [line["update"] for line in lines] == [0, 1, 2, 3]
    assert [line["stage"] for line in lines] == ["removal", "shrink", "shrink", "shrink"]


def test_trainer_config_rejects_nonsense():
    with pytest.raises(ConfigError):
        N2NConfig(removal_updates=0, shrink_updates=0)
    with pytest.raises(ConfigError):
        N2NConfig(final_epochs=0)
    with pytest.raises(ConfigError, match="unknown reward"):
        TaskConfig(reward="flops")


def test_cache_persists_per_context(tmp_path):
    path = tmp_path / "students.jsonl"
    a = StudentCache({"teacher": "x"}, path)
    a.put(StudentResult("k1", {}, True, params=5, val_acc=0.5))
    assert a.lookup("k1").params == 5 and a.lookup("k2") is None
    assert a.stats() == {"entries": 1, "hits": 1, "misses": 1}
    assert len(StudentCache({"teacher": "x"}, path)) == 1
    assert len(StudentCache({"teacher": "y"}, path)) == 0  # another context ignores the rows


def test_repeated_students_are_evaluated_once(task, monkeypatch):
    calls = []
    real = task.evaluate
    monkeypatch.setattr(task, "evaluate", lambda arch: calls.append(arch.key()) or real(arch))
    a = task.removal_arch([1, 0, 1, 0, 1, 0, 1])
    b = task.removal_arch([0, 1, 1, 0, 1, 0, 1])
    first = task.evaluate_many([a, b, a])
    second = task.evaluate_many([b, a])
    assert len(calls) == len(set(calls)) <= 2
    assert first[0] == first[2] == second[1]


def test_random_search_spends_exactly_the_budget(task):
    state = random_search(task, (2, 2), seed=1, batch=2)
    assert len(state.seen["removal"]) == 2 and len(state.seen["shrink"]) == 2
    assert state.students() <= 4
    joint = random_search(task, 2, seed=1, mode="joint")
    assert len(joint.seen["joint"]) == 2
    with pytest.raises(ConfigError):
        random_search(task, 4, mode="staged")


def test_uniform_shrink_hits_the_parameter_count():
    teacher = teacher_arch("resnet", "digits")
    target = count_params(teacher) // 10
    arch = uniform_arch(teacher, target)
    assert 0.9 * target < count_params(arch) <= target
    assert len({a.out / t.out for a, t in zip(arch.layers, teacher.layers)}) <= 3  # one factor, rounded
    assert uniform_arch(teacher, 10**9) == teacher


def test_uniform_shrink_is_scored(task):
    found = uniform_shrink(task, task.teacher_result.params // 4)
    assert found.result.valid and -1 < found.reward <= 1


def test_cli_runs_n2n(tmp_path, capsys, task):
    from agents.n2n.cli import main

    out = tmp_path / "r.json"
    code = main(["n2n", "--quick", "--distill-epochs", "1", "--removal-updates", "1", "--shrink-updates", "0",
                 "--rollouts", "2", "--final-epochs", "1", "--runs-dir", str(tmp_path), "--name", "cli",
                 "--json", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "fewer" in text and "distinct students" in text
    assert json.loads(out.read_text())["best"]["params"] > 0
    with pytest.raises(ConfigError, match="unknown subcommand"):
        main(["amc"])


@pytest.mark.slow
def test_quick_bench_writes_its_table(tmp_path):
    from agents.n2n.bench import main

    out = tmp_path / "bench.json"
    assert main(["--quick", "--json", str(out), "--runs-dir", str(tmp_path / "runs")]) == 0
    data = json.loads(out.read_text())
    methods = [r["method"] for r in data["rows"]]
    assert methods[:4] == ["n2n", "n2n removal only (ablation)", "random search (same budget)",
                           "uniform shrink (same params)"]
    rnd = [r for r in data["per_seed"] if r["method"].startswith("random")][0]
    n2n = [r for r in data["per_seed"] if r["method"] == "n2n"][0]
    assert rnd["students"] == n2n["students"]
    assert "n2n_at_least_random_reward" in data["criteria"]


def test_bench_takes_the_teacher_and_records_it(tmp_path):
    from agents.n2n.bench import main

    out = tmp_path / "bench.json"
    argv = ["--quick", "--teacher", "resnet20", "--removal-updates", "1", "--shrink-updates", "1", "--rollouts", "2",
            "--final-epochs", "1", "--latency", "none", "--json", str(out), "--runs-dir", str(tmp_path / "runs")]
    assert main(argv) == 0
    data = json.loads(out.read_text())
    assert data["teacher_model"] == "resnet20" and data["dataset"] == "digits"
    assert data["teacher"]["name"] == "resnet20-digits"
    teacher = teacher_arch("resnet20", "digits", 0.25)
    assert data["teacher"]["arch"] == teacher.key() and data["teacher"]["params"] == count_params(teacher)
    uniform = [r for r in data["per_seed"] if r["method"].startswith("uniform")][0]
    assert len(uniform["arch"].split("|")[1].split(",")) == len(teacher.layers)  # resnet20's 10 layers, shrunk


@pytest.mark.slow
def test_latency_is_measured_and_the_student_exports(tmp_path, task):
    from agents.n2n.trainer import Scored, export_student, final_report, measured_latency_ratio

    arch = task.removal_arch([1, 1, 0, 1, 0, 1, 0])
    model, report = final_report(task, Scored(arch, task.evaluate(arch), 0.0), 1)
    lat = measured_latency_ratio(task, model, arch)
    assert lat["target"] == "host" and lat["ratio"] > 0
    exports = export_student(model, arch, ("host", "jetson-orin"), tmp_path)
    assert (tmp_path / "host" / "manifest.json").exists() and (tmp_path / "jetson-orin" / "manifest.json").exists()
    assert exports["host"]["verification"] is True
    import edge

    loaded = edge.load(tmp_path / "host")
    x = task.teacher.data.x_test[:1]
    torch.testing.assert_close(torch.as_tensor(loaded(x.numpy())), model.eval()(x), atol=1e-4, rtol=1e-4)


def test_size_constraint_applies_to_the_final_stage_only(task):
    from dataclasses import replace

    constrained = N2NTask(replace(QUICK, max_params_ratio=0.3), cache=task.cache, teacher=task.teacher)
    big = constrained.removal_arch([1] * len(task.arch))
    small = constrained.shrink_arch([0] * len(task.arch))
    big_result, small_result = constrained.evaluate_many([big, small])
    assert constrained.reward(big_result) == -1.0
    assert constrained.reward(big_result, constrained=False) == pytest.approx(task.reward(big_result))
    assert constrained.reward(small_result) == pytest.approx(task.reward(small_result))
    state = random_search(constrained, (2, 3), seed=0)
    final = state.final()
    assert final is state.best["shrink"]
    assert final.reward == -1.0 or final.result.params <= 0.3 * task.teacher_result.params
    with pytest.raises(ConfigError, match="max_params_ratio"):
        replace(QUICK, max_params_ratio=1.5)


@pytest.mark.slow
def test_export_command_reads_a_finished_run(tmp_path, task, capsys):
    from agents.n2n.cli import main

    cfg = N2NConfig(task=QUICK, removal_updates=1, shrink_updates=0, reinforce=ReinforceConfig(rollouts=2),
                    final_epochs=1, name="run", root=str(tmp_path))
    N2NTrainer(cfg, task=task).run()
    assert main(["export", str(tmp_path / "run"), "--targets", "host"]) == 0
    assert (tmp_path / "run" / "artifacts" / "host" / "manifest.json").exists()
    assert "verified: True" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="does not exist"):
        main(["export", str(tmp_path / "nothing")])


@pytest.mark.slow
def test_measured_latency_reward_compiles_students(task):
    from dataclasses import replace

    timed = N2NTask(replace(QUICK, reward="latency", latency_repeat=20), teacher=task.teacher)
    (result,) = timed.evaluate_many([timed.removal_arch([1, 1, 0, 1, 0, 1, 0])])
    assert result.latency_s > 0 and timed.teacher_result.latency_s > 0
    assert timed.reward(result) == pytest.approx(
        n2n_reward(result.latency_s / timed.teacher_result.latency_s, result.val_acc / timed.teacher_result.val_acc))
    assert "latency_target" in timed.config.context()  # measured students are cached apart from the others
