"""``hwsim bench agents``: each part on a small problem, and the whole command (slow)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from agents import bench


def test_cluster_rows_compare_on_the_same_jobs():
    rows = bench.bench_cluster(num_jobs=6, seeds=[0, 1], num_executors=10)
    assert [r["method"] for r in rows] == ["fifo", "fair", "sjf"]
    assert all(r["metric"] == "mean_jct_s" and r["value"] > 0 for r in rows)
    assert rows[0]["vs_ref"] == pytest.approx(1.0)


def test_viewport_rows():
    rows = bench.bench_viewport()
    methods = {r["method"] for r in rows if r["task"] == "vp-test-all"}
    assert {"linear", "velocity", "static", "linear-nounwrap", "velocity-nounwrap"} == methods
    assert all(0 < r["value"] < 90 for r in rows)


def test_abr_rows_on_held_out_hsdpa():
    rows = {r["method"]: r for r in bench.bench_abr("hsdpa-test")}
    assert set(rows) == {"bba", "rate", "mpc", "mpc-netllm"}
    assert rows["bba"]["vs_ref"] == pytest.approx(1.0)


def test_throughput_rows():
    rows = bench.bench_throughput(min_time=0.05, num_envs=2)
    assert [r["metric"] for r in rows] == ["steps_per_s"] * 4
    assert all(r["value"] > 0 for r in rows)


def test_trainer_rows_compare_hwsim_ppo_with_sb3(one_torch_thread):
    rows = bench.bench_trainers(steps=128 * 128, sb3_steps=16)
    assert [r["method"] for r in rows] == ["hwsim rl ppo", "sb3 ppo"]
    assert all(r["metric"] == "steps_per_s" and r["value"] > 0 for r in rows)
    assert rows[0]["vs_ref"] == pytest.approx(rows[0]["value"] / rows[1]["value"])


def test_learned_rows_rescore_runs_over_seeds(tmp_path, one_torch_thread):
    from agents.rl.ppo import PPOTrainConfig, train_ppo
    from hwsim.runs import RunRecord

    runs = []
    for seed in (0, 1):
        cfg = PPOTrainConfig(total_steps=256, num_envs=8, num_steps=32, num_minibatches=2, update_epochs=1,
                             hidden=(8,), seed=seed, eval_every=0)
        result = train_ppo(cfg, RunRecord(f"s{seed}", root=tmp_path), show_progress=False)
        runs.append((str(tmp_path / f"s{seed}"), result.metrics["fcc_qoe"]))
    rows = [r for r in bench.bench_learned([d for d, _ in runs]) if r["task"] == "abr:fcc_qoe"]
    ppo = rows[0]
    assert ppo["method"] == "ppo (2 seeds)"
    assert ppo["value"] == pytest.approx(np.mean([q for _, q in runs]))
    assert ppo["std"] == pytest.approx(np.std([q for _, q in runs]))
    assert {r["method"] for r in rows[1:]} == {"bba", "mpc"}


@pytest.mark.slow
def test_cli_quick_writes_json(tmp_path):
    out = tmp_path / "agents.json"
    subprocess.run([sys.executable, "-m", "hwsim.cli", "bench", "agents", "--quick", "--train-steps", "32768",
                    "--json", str(out)], check=True)
    payload = json.loads(out.read_text())
    rows = {(r["task"], r["method"]): r["value"] for r in payload["rows"]}
    assert 0.70 <= rows[("abr-fcc-test", "bba")] <= 0.80
    assert rows[("abr-fcc-test", "mpc")] > rows[("abr-fcc-test", "bba")]
    assert rows[("cjs", "fair")] < rows[("cjs", "fifo")]
    assert ("vp-test-all", "linear") in rows and ("vp-test-all", "velocity") in rows
    assert rows[("abr-training", "hwsim rl ppo")] > 0 and rows[("abr-training", "sb3 ppo")] > 0
