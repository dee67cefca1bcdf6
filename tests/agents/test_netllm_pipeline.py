"""The whole NetLLM pipeline through ``hwsim netllm`` with the tiny backbone on CPU: collect an
experience pool, train a few steps (with a checkpoint, a resume and the run files), evaluate the
adapted model as a policy in the gymnasium test environment."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

from agents.netllm.cli import main
from hwsim.errors import ConfigError, DataError

ROOT = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _train_args(task: str, pool: Path, runs: Path, steps: int) -> list[str]:
    return ["train", "--task", task, "--pool", str(pool), "--run", task, "--runs-dir", str(runs), "--backbone", "tiny",
            "--steps", str(steps), "--batch-size", "2", "--lr", "1e-3", "--warmup", "1", "--log-every", "2",
            "--checkpoint-every", "2", "--lora-rank", "4", "--device", "cpu"]


def test_abr_collect_train_resume_eval(tmp_path, capsys):
    pool = tmp_path / "abr.npz"
    assert main(["collect", "--task", "abr", "--policies", "bba,mpc", "--episodes", "2", "--out", str(pool)]) == 0
    assert main(_train_args("abr", pool, tmp_path, 2)) == 0
    run = tmp_path / "abr"
    for name in ("config.json", "metrics.jsonl", "checkpoint.pt", "train.json", "curves.png"):
        assert (run / name).exists(), name
    assert main(_train_args("abr", pool, tmp_path, 4) + ["--resume"]) == 0
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [2, 4]  # the resumed run continued from step 2
    out_json = tmp_path / "res.json"
    assert main(["eval", "--run", "abr", "--runs-dir", str(tmp_path), "--episodes", "3", "--batch", "2",
                 "--device", "cpu", "--json", str(out_json)]) == 0
    result = json.loads(out_json.read_text())
    assert result["env_id"] == "hwsim/ABR-FCC-Test-v0" and result["episodes"] == 3 and result["step"] == 4
    assert result["chunks"] == 3 * 47 and np.isfinite(result["value"])
    assert result["value"] == pytest.approx(np.mean(result["per_trace_qoe"]))
    assert json.loads((run / "results.json").read_text())["value"] == result["value"]
    assert "qoe_per_chunk" in capsys.readouterr().out


def test_resume_refuses_another_configuration(tmp_path):
    pool = tmp_path / "abr.npz"
    main(["collect", "--task", "abr", "--policies", "bba", "--episodes", "1", "--out", str(pool)])
    main(_train_args("abr", pool, tmp_path, 2))
    with pytest.raises(ConfigError, match="another configuration"):
        main(_train_args("abr", pool, tmp_path, 4) + ["--resume", "--context", "5"])


def test_vp_collect_train_eval(tmp_path):
    pool = tmp_path / "vp.npz"
    assert main(["collect", "--task", "vp", "--episodes", "3", "--out", str(pool)]) == 0
    assert main(_train_args("vp", pool, tmp_path, 3)) == 0
    out_json = tmp_path / "vp.json"
    assert main(["eval", "--run", "vp", "--runs-dir", str(tmp_path), "--episodes", "2", "--device", "cpu",
                 "--json", str(out_json)]) == 0
    result = json.loads(out_json.read_text())
    assert result["metric"] == "mae_deg" and result["env_id"] == "hwsim/Viewport-Test-v0"
    assert 0 < result["value"] < 180 and len(result["per_episode_mae"]) == 2


def test_user_mistakes_raise_clear_errors(tmp_path):
    with pytest.raises(DataError, match="hwsim netllm collect"):
        main(["train", "--task", "abr", "--pool", str(tmp_path / "missing.npz"), "--run", "x",
              "--runs-dir", str(tmp_path), "--backbone", "tiny"])
    with pytest.raises(DataError, match="not a trained run"):
        main(["eval", "--run", "nothing", "--runs-dir", str(tmp_path)])
    with pytest.raises(ConfigError, match="unknown abr policy"):
        main(["collect", "--task", "abr", "--policies", "genet", "--episodes", "1", "--out", str(tmp_path / "p.npz")])
    vp_pool = tmp_path / "vp.npz"
    main(["collect", "--task", "vp", "--episodes", "1", "--out", str(vp_pool)])
    with pytest.raises(DataError, match="not in an environment of task .abr."):
        main(_train_args("abr", vp_pool, tmp_path, 1))


def test_example_runs_with_the_tiny_backbone(monkeypatch, capsys):
    script = ROOT / "examples" / "netllm_abr.py"
    monkeypatch.setattr(sys, "argv", [str(script), "--backbone", "tiny", "--steps", "2", "--episodes", "1",
                                      "--traces", "2", "--device", "cpu", "--threads", "1"])
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(script), run_name="__main__")
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "FCC test protocol" in out and "bba" in out and "mpc" in out and "ablation" in out
