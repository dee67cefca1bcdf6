"""The CleanRL-style PPO (agents.rl): smoke-sized runs on each environment family, the run record
(log, checkpoint, curve, resume), the batched evaluation against the one-env protocol, the CLI.
No learning is claimed here: the learning results are in docs/agents.md with their commands."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from agents.abr.env import ABREnv
from agents.abr.evaluate import evaluate_abr
from agents.rl.evaluate import BatchPolicyAdapter
from agents.rl.networks import MaskedCategorical, SlotScheduler
from agents.rl.ppo import PPOTrainConfig, RunningMeanStd, load_agent, train_ppo
from agents.rl.tasks import get_task
from hwsim.errors import ConfigError
from hwsim.runs import RunRecord

TINY = dict(num_envs=8, num_steps=32, update_epochs=1, num_minibatches=2, hidden=(16, 16))


def test_abr_run_writes_log_checkpoint_curve_and_resumes(tmp_path, one_torch_thread):
    cfg = PPOTrainConfig(env_id="hwsim/ABR-v0", total_steps=8 * 32 * 4, eval_every=8 * 32 * 2, **TINY)
    run = RunRecord("abr", root=tmp_path)
    result = train_ppo(cfg, run, show_progress=False)
    assert result.env_steps == 8 * 32 * 4 and result.steps_per_second > 0
    assert set(result.metrics) == {"fcc_qoe", "hsdpa_qoe"}
    assert result.references["fcc_qoe"]["bba"] == pytest.approx(0.764, abs=0.002)
    lines = run.metrics()
    assert [line["step"] for line in lines] == [512, 1024]
    assert (run.dir / "curve.png").stat().st_size > 1000 and (run.dir / "checkpoint.pt").exists()
    # resume continues from the checkpoint's step count and keeps the earlier log lines
    longer = PPOTrainConfig(env_id="hwsim/ABR-v0", total_steps=8 * 32 * 6, eval_every=8 * 32 * 2, **TINY)
    again = train_ppo(longer, RunRecord("abr", root=tmp_path, resume=True), resume=True, show_progress=False)
    assert again.env_steps == 8 * 32 * 6
    assert [line["step"] for line in run.metrics()] == [512, 1024, 1536]


def test_batched_protocol_equals_the_one_env_protocol(tmp_path, one_torch_thread):
    cfg = PPOTrainConfig(env_id="hwsim/ABR-v0", total_steps=8 * 32, eval_every=0, **TINY)
    run = RunRecord("abr", root=tmp_path)
    result = train_ppo(cfg, run, show_progress=False)
    agent = load_agent(run.dir)
    one_by_one = evaluate_abr(BatchPolicyAdapter(agent), ABREnv("fcc-test", train=False)).qoe
    assert one_by_one == pytest.approx(result.metrics["fcc_qoe"], abs=1e-12)


@pytest.mark.parametrize("env_id, kwargs", [
    ("hwsim/ClusterScheduling-Small-v0", {"num_jobs": 3}),
    ("hwsim/Viewport-v0", {}),
])
def test_other_families_train(env_id, kwargs, one_torch_thread, monkeypatch):
    if "Cluster" in env_id:  # a short test protocol: the same code, fewer and smaller job sequences
        monkeypatch.setattr("agents.rl.tasks.CLUSTER_EVAL_SEEDS", (10_000,))
    cfg = PPOTrainConfig(env_id=env_id, env_kwargs=kwargs, total_steps=8 * 32 * 2, eval_every=0, **TINY)
    result = train_ppo(cfg, None, show_progress=False)
    task = get_task(env_id)
    assert task.metric in result.metrics and np.isfinite(result.metrics[task.metric])
    assert set(result.references[task.metric]) >= ({"fifo", "fair", "sjf"} if "Cluster" in env_id else {"static"})
    if "Cluster" in env_id:
        assert result.metrics["jobs_done"] == 3


def test_masked_slot_policy_never_picks_a_masked_choice():
    torch.manual_seed(0)
    net = SlotScheduler(slots=4, features=9, globals_=4, limits=3, hidden=8)
    obs = torch.rand(64, 4 * 9 + 4)
    obs[:, 0:36:9] = torch.tensor([1.0, 1.0, 0.0, 0.0])  # two filled slots
    mask = torch.zeros(64, 4 + 3, dtype=torch.bool)
    mask[:, :2] = True
    mask[:, 4:6] = True  # limits 1 and 2 allowed
    dist = net.dist(obs, mask)
    action = dist.sample()
    assert (action[:, 0] < 2).all() and (action[:, 1] < 2).all()
    assert torch.isfinite(dist.log_prob(action)).all() and (dist.entropy() >= 0).all()
    cat = MaskedCategorical(torch.zeros(1, 3), torch.tensor([[True, False, True]]))
    assert cat.entropy().item() == pytest.approx(np.log(2.0))


def test_running_mean_std_matches_numpy():
    rms = RunningMeanStd((2,))
    data = np.random.default_rng(0).normal(3.0, 2.0, size=(1000, 2))
    for chunk in np.split(data, 10):
        rms.update(chunk)
    assert rms.mean == pytest.approx(data.mean(axis=0), rel=1e-3)
    assert rms.var == pytest.approx(data.var(axis=0), rel=1e-3)


def test_bad_configs_are_refused():
    with pytest.raises(ConfigError, match="num_minibatches"):
        PPOTrainConfig(num_envs=3, num_steps=5, num_minibatches=4).check()
    with pytest.raises(ConfigError, match="test protocol"):
        get_task("hwsim/N2NRemoval-v0")
    with pytest.raises(ConfigError, match="unknown environment"):
        get_task("hwsim/Nope-v0")
    with pytest.raises(ConfigError, match="no PPO checkpoint"):
        load_agent("/nonexistent/run")


@pytest.mark.slow
def test_cli_train_and_eval(tmp_path):
    run = tmp_path / "cli"
    base = [sys.executable, "-m", "hwsim.cli", "rl"]
    subprocess.run(base + ["train", "--env", "hwsim/ABR-v0", "--total-steps", "512", "--num-envs", "8",
                           "--num-steps", "32", "--hidden", "16", "16", "--no-normalize-reward",
                           "--run-dir", str(run)], check=True, capture_output=True)
    result = json.loads((run / "result.json").read_text())
    assert result["env_steps"] == 512 and result["config"]["normalize_reward"] is False
    assert result["config"]["hidden"] == [16, 16]
    out = tmp_path / "eval.json"
    subprocess.run(base + ["eval", "--run-dir", str(run), "--json", str(out)], check=True, capture_output=True)
    scores = json.loads(out.read_text())
    assert scores["metrics"]["fcc_qoe"] == pytest.approx(result["metrics"]["fcc_qoe"])
    bad = subprocess.run(base + ["train", "--env", "hwsim/ABR-v0", "--num-minibatches", "7", "--run-dir",
                                 str(tmp_path / "bad")], capture_output=True, text=True)
    assert bad.returncode == 2 and "num_minibatches" in bad.stderr
