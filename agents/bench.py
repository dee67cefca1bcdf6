"""``hwsim bench agents``: the networking environments' classic baselines on their test protocols,
environment and training throughput (hwsim's PPO next to SB3's PPO in the same run), and with
``--runs`` the policies ``hwsim rl train`` learned, re-scored over their seeds.

- ABR: mean QoE_lin per chunk on NetLLM's FCC test protocol (100 traces, fixed starts, no noise)
  for BBA, rate-based and robustMPC, plus robustMPC as NetLLM runs it (the reference reproduction).
- CJS: mean job completion time of FIFO, fair sharing and SJF on the same job sequences.
- VP: mean absolute error (degrees) of linear regression and constant velocity on the test split,
  with the static predictor as a reference and NetLLM's no-unwrap variants as the ablation.
- Throughput: ABR steps per second of one environment (bare and through ``gymnasium.make``) and of
  vector environments (the native one and gymnasium's ``SyncVectorEnv``); training throughput of
  hwsim's PPO and SB3's PPO set alike, as a ratio.
- Learned policies (``--runs``): each run re-scored on its test protocol, mean and std over seeds.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Sequence

import gymnasium as gym
import numpy as np

import agents  # noqa: F401
from agents.abr.baselines import BBA, RateBased, RobustMPC
from agents.abr.env import ABREnv
from agents.abr.evaluate import evaluate_abr
from agents.baselines.cluster import BASELINES as CLUSTER_BASELINES
from agents.baselines.viewport import BASELINES as VIEWPORT_BASELINES
from agents.envs.cluster import ClusterSchedulingEnv
from agents.policy import run_episode
from agents.ppo import SB3PPOConfig, SB3Policy, make_ppo
from agents.rl.ppo import PPOTrainConfig, load_agent, load_checkpoint, train_ppo
from agents.rl.tasks import env_kwargs, get_task
from agents.viewport_data import DATASETS, load_windows, mean_absolute_error
from hwsim.report import write_bench

ROWS = ("task", "method", "metric", "value", "std", "vs_ref", "detail")


def _row(task: str, method: str, metric: str, value: float, std: float | None = None,
         ref: float | None = None, detail: str = "") -> dict[str, Any]:
    ratio = value / ref if ref not in (None, 0.0) else None
    return {"task": task, "method": method, "metric": metric, "value": value, "std": std,
            "vs_ref": ratio, "detail": detail}


def bench_abr(trace_set: str = "fcc-test") -> list[dict[str, Any]]:
    """Every ABR baseline on the test protocol of ``trace_set``; ``vs_ref`` is the ratio to BBA."""
    env = ABREnv(trace_set, train=False)
    results = {p.name: evaluate_abr(p, env) for p in (BBA(), RateBased(), RobustMPC(), RobustMPC.netllm_variant())}
    ref = results["bba"].qoe
    return [_row(f"abr-{trace_set}", name, "qoe_per_chunk", r.qoe, float(np.std(r.per_trace_qoe)), ref,
                 f"bitrate {r.bitrate_mbps:.3f} Mbps, rebuffer {r.rebuffer_s:.4f} s/chunk, "
                 f"switch {r.smoothness_mbps:.3f} Mbps/chunk, {r.chunks} chunks; std over traces")
            for name, r in results.items()]


def bench_cluster(num_jobs: int, seeds: Sequence[int], num_executors: int = 50) -> list[dict[str, Any]]:
    """FIFO, fair and SJF on the same job sequences (one per seed); ``vs_ref`` is the ratio to FIFO."""
    env = ClusterSchedulingEnv(num_executors=num_executors, num_jobs=num_jobs, graph_info=False)
    jct: dict[str, list[float]] = {}
    steps: dict[str, int] = {}
    for name, cls in CLUSTER_BASELINES.items():
        for seed in seeds:
            episode = run_episode(env, cls(), seed=seed)
            if episode.last_info["jobs_done"] != num_jobs:
                raise RuntimeError(f"{name} finished {episode.last_info['jobs_done']} of {num_jobs} jobs")
            jct.setdefault(name, []).append(episode.last_info["mean_jct_s"])
            steps[name] = steps.get(name, 0) + len(episode.rewards)
    ref = float(np.mean(jct["fifo"]))
    return [_row("cjs", name, "mean_jct_s", float(np.mean(v)), float(np.std(v)), ref,
                 f"{num_executors} executors, {num_jobs} TPC-H jobs, seeds {list(seeds)}; std over seeds; "
                 f"{steps[name]} decisions")
            for name, v in jct.items()]


def bench_viewport() -> list[dict[str, Any]]:
    """Viewport baselines on the test split (all datasets and each); ``vs_ref`` is the ratio to
    constant velocity on the same samples."""
    windows = load_windows("test")
    rows = []
    for subset in ("all", *DATASETS):
        part = windows if subset == "all" else windows.subset(subset)
        scores = {}
        for name, cls in VIEWPORT_BASELINES.items():
            for unwrap in (True, False):
                if name == "static" and not unwrap:
                    continue  # unwrapping does not change a constant prediction
                label = name if unwrap else f"{name}-nounwrap"
                scores[label] = mean_absolute_error(cls(unwrap=unwrap).predict(part.history), part.future)
        for label, mae in scores.items():
            rows.append(_row(f"vp-test-{subset}", label, "mae_deg", mae, None, scores["velocity"],
                             f"{len(part)} windows (10 past -> 20 future at 5 Hz)"))
    return rows


def _steps_per_second(step: Any, reset: Any, min_time: float) -> float:
    reset()
    count, start = 0, time.perf_counter()
    while True:
        for _ in range(1000):
            if step():
                reset()
        count += 1000
        elapsed = time.perf_counter() - start
        if elapsed >= min_time:
            return count / elapsed


def bench_throughput(min_time: float, num_envs: int = 8) -> list[dict[str, Any]]:
    """ABR environment steps per second: one bare env, one through ``gymnasium.make``, and vector
    envs of ``num_envs`` (native and ``SyncVectorEnv``; counted in environment steps)."""

    actions = np.random.default_rng(0).integers(6, size=4096).tolist()
    rows = []
    for label, env in (("single env (bare)", ABREnv()), ("single env (gymnasium.make)", gym.make("hwsim/ABR-v0"))):
        counter = iter(range(1 << 62))

        def step(env=env, counter=counter) -> bool:
            return env.step(actions[next(counter) & 4095])[2]

        rate = _steps_per_second(step, lambda env=env: env.reset(seed=0), min_time)
        rows.append(_row("abr-throughput", label, "steps_per_s", rate, None, None, "random bitrates, train protocol"))
    batch = np.array(actions[:num_envs])
    for mode, label in (("vector_entry_point", "native"), ("sync", "SyncVectorEnv")):
        vec = gym.make_vec("hwsim/ABR-v0", num_envs=num_envs, vectorization_mode=mode)

        def vstep(vec=vec) -> bool:
            vec.step(batch)
            return False

        rate = _steps_per_second(vstep, lambda vec=vec: vec.reset(seed=0), min_time) * num_envs
        rows.append(_row("abr-throughput", f"vector env x{num_envs} ({label})", "steps_per_s", rate, None, None,
                         "environment steps (vector steps x envs), autoreset"))
    return rows


def bench_trainers(steps: int, sb3_steps: int, seed: int = 0) -> list[dict[str, Any]]:
    """Training throughput on ``hwsim/ABR-v0`` in one run: hwsim's PPO (:mod:`agents.rl.ppo`, native
    vector environment, batched policy, 1 torch thread) and SB3's PPO with the same number of
    environments, rollout length, epochs, minibatches and network (``DummyVecEnv``, 1 torch thread),
    both in environment steps per second of wall-clock over rollouts and updates (SB3 collects whole
    rollouts, so it runs at least one); ``vs_ref`` is the ratio to SB3."""
    cfg = PPOTrainConfig(env_id="hwsim/ABR-v0", total_steps=steps, eval_every=0, seed=seed)
    ours = train_ppo(cfg, None, show_progress=False)
    # SB3 set as close to ours as its API allows: same envs, rollout, epochs, minibatches and network
    sb3 = SB3PPOConfig(n_envs=cfg.num_envs, n_steps=cfg.num_steps, n_epochs=cfg.update_epochs,
                       batch_size=cfg.num_envs * cfg.num_steps // cfg.num_minibatches, net_arch=list(cfg.hidden))
    model = make_ppo("hwsim/ABR-v0", sb3, seed=seed)
    start = time.perf_counter()
    model.learn(total_timesteps=sb3_steps)
    sb3_rate = model.num_timesteps / (time.perf_counter() - start)
    return [
        _row("abr-training", "hwsim rl ppo", "steps_per_s", ours.steps_per_second, None, sb3_rate,
             f"{ours.env_steps} env steps, {cfg.num_envs} envs x {cfg.num_steps} steps, {cfg.update_epochs} epochs, "
             f"MLP {'x'.join(map(str, cfg.hidden))}, inference and updates included"),
        _row("abr-training", "sb3 ppo", "steps_per_s", sb3_rate, None, sb3_rate,
             f"{model.num_timesteps} env steps, the same envs x steps, epochs, minibatches and MLP; "
             f"gymnasium.make envs in a DummyVecEnv"),
    ]


def bench_sb3_ppo(timesteps: int, seed: int = 0, subprocess: bool = False, n_envs: int = 8) -> list[dict[str, Any]]:
    """Train SB3's PPO on ``hwsim/ABR-v0`` (HSDPA train traces) and score it on the FCC and HSDPA test
    protocols next to BBA and robustMPC."""
    start = time.perf_counter()
    model = make_ppo("hwsim/ABR-v0", SB3PPOConfig(n_envs=n_envs), seed=seed, subprocess=subprocess)
    model.learn(total_timesteps=timesteps)
    train_s = time.perf_counter() - start
    rows = []
    for trace_set in ("fcc-test", "hsdpa-test"):
        env = ABREnv(trace_set, train=False)
        scores = {p.name: evaluate_abr(p, env).qoe for p in (BBA(), RobustMPC(), SB3Policy(model, name="sb3-ppo"))}
        for name, qoe in scores.items():
            detail = f"SB3 PPO: {timesteps} steps on hsdpa-train, {train_s:.0f} s, seed {seed}"
            detail = detail if name == "sb3-ppo" else ""
            rows.append(_row(f"abr-{trace_set}", name, "qoe_per_chunk", qoe, None, scores["bba"], detail))
    return rows


def bench_learned(run_dirs: Sequence[str]) -> list[dict[str, Any]]:
    """Policies trained by ``hwsim rl train``, re-scored here on their test protocols: per environment
    family and metric the mean and std over the runs (seeds), with the baselines of the same
    protocol; ``vs_ref`` is the ratio to BBA (ABR) or FIFO (cluster) or constant velocity (viewport)."""
    groups: dict[tuple[str, str], list[tuple[dict[str, float], PPOTrainConfig, dict[str, Any]]]] = {}
    for run_dir in run_dirs:
        cfg, _ = load_checkpoint(run_dir)
        task = get_task(cfg.env_id)
        kwargs = env_kwargs(cfg.env_id, cfg.env_kwargs)
        result_file = Path(run_dir) / "result.json"
        result = json.loads(result_file.read_text()) if result_file.exists() else {}
        scores = task.evaluate(load_agent(run_dir), kwargs)
        groups.setdefault((task.family, cfg.env_id), []).append((scores, cfg, result))
    rows = []
    reference_of = {"abr": "bba", "cluster": "fifo", "viewport": "velocity"}
    for (family, env_id), runs in groups.items():
        task = get_task(env_id)
        references = task.references(env_kwargs(env_id, runs[0][1].env_kwargs))
        seeds = sorted(cfg.seed for _, cfg, _ in runs)
        steps = sorted({result.get("env_steps", 0) for _, _, result in runs})
        minutes = [result.get("train_seconds", 0.0) / 60.0 for _, _, result in runs]
        for metric, baselines in references.items():
            values = [m[metric] for m, _, _ in runs]
            ref = baselines[reference_of[family]]
            label = f"{family}:{metric}"
            rows.append(_row(label, f"ppo ({len(runs)} seeds)", metric, float(np.mean(values)), float(np.std(values)),
                             ref, f"trained on {env_id}, seeds {seeds}, {'/'.join(map(str, steps))} env steps, "
                                  f"{min(minutes):.0f}-{max(minutes):.0f} min each; per seed "
                                  + " ".join(f"{v:.3f}" for v in values)))
            rows += [_row(label, name, metric, value, None, ref, "same test protocol")
                     for name, value in baselines.items()]
    return rows


def main(argv: Sequence[str]) -> int:
    """Run the agents benchmark; prints a table and writes JSON with ``--json``."""
    parser = argparse.ArgumentParser(prog="hwsim bench agents", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer CJS jobs and seeds, shorter timing, shorter PPO")
    parser.add_argument("--no-trainers", action="store_true", help="skip the training-throughput rows")
    parser.add_argument("--train-steps", type=int, default=None,
                        help="env steps of the hwsim PPO throughput run (default 300k quick, 2M full)")
    parser.add_argument("--sb3-steps", type=int, default=None,
                        help="env steps of the SB3 PPO throughput run (default 16k quick, 65k full)")
    parser.add_argument("--runs", nargs="+", default=[], metavar="RUN_DIR",
                        help="run folders of 'hwsim rl train' to re-score (mean and std over them per environment)")
    parser.add_argument("--sb3-ppo", action="store_true",
                        help="also train SB3 PPO on ABR and score it like BBA and MPC")
    parser.add_argument("--sb3-ppo-steps", type=int, default=None, help="its timesteps (default 20k quick, 300k full)")
    parser.add_argument("--ppo-subprocess", action="store_true", help="run SB3 PPO's environments in subprocesses")
    parser.add_argument("--seed", type=int, default=0, help="PPO seed")
    parser.add_argument("--json", default=None, help="write the results to this JSON file")
    args = parser.parse_args(list(argv))

    quick = args.quick
    rows = bench_abr("fcc-test")
    rows += bench_cluster(num_jobs=50 if quick else 200, seeds=[0] if quick else [0, 1, 2])
    rows += bench_viewport()
    rows += bench_throughput(min_time=1.0 if quick else 3.0)
    if not args.no_trainers:
        rows += bench_trainers(args.train_steps or (300_000 if quick else 2_000_000),
                               args.sb3_steps or (16_384 if quick else 65_536), seed=args.seed)
    if args.runs:
        rows += bench_learned(args.runs)
    if args.sb3_ppo:
        steps = args.sb3_ppo_steps or (20_000 if quick else 300_000)
        rows += bench_sb3_ppo(steps, seed=args.seed, subprocess=args.ppo_subprocess)
    write_bench(args.json, "agents", rows, columns=ROWS, quick=quick,
                note="timings are wall-clock on a shared machine; QoE, JCT and MAE do not depend on timing")
    return 0
