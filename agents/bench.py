"""``hwsim bench agents``: the networking environments' classic baselines on their test protocols,
and environment throughput; ``--ppo`` adds a PPO run on ABR against the baselines.

- ABR: mean QoE_lin per chunk on NetLLM's FCC test protocol (100 traces, fixed starts, no noise)
  for BBA, rate-based and robustMPC, plus robustMPC as NetLLM runs it (the reference reproduction).
- CJS: mean job completion time of FIFO, fair sharing and SJF on the same job sequences.
- VP: mean absolute error (degrees) of linear regression and constant velocity on the test split,
  with the static predictor as a reference and NetLLM's no-unwrap variants as the ablation.
- Throughput: ABR steps per second of one environment (bare and through ``gymnasium.make``) and of
  vector environments (the native one and gymnasium's ``SyncVectorEnv``).
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Sequence

import numpy as np

ROWS = ("task", "method", "metric", "value", "std", "vs_ref", "detail")


def _row(task: str, method: str, metric: str, value: float, std: float | None = None,
         ref: float | None = None, detail: str = "") -> dict[str, Any]:
    ratio = value / ref if ref not in (None, 0.0) else None
    return {"task": task, "method": method, "metric": metric, "value": value, "std": std,
            "vs_ref": ratio, "detail": detail}


def bench_abr(trace_set: str = "fcc-test") -> list[dict[str, Any]]:
    """Every ABR baseline on the test protocol of ``trace_set``; ``vs_ref`` is the ratio to BBA."""
    from agents.abr.evaluate import evaluate_abr
    from agents.abr.baselines import BBA, RateBased, RobustMPC
    from agents.abr.env import ABREnv

    env = ABREnv(trace_set, train=False)
    results = {p.name: evaluate_abr(p, env) for p in (BBA(), RateBased(), RobustMPC(), RobustMPC.netllm_variant())}
    ref = results["bba"].qoe
    return [_row(f"abr-{trace_set}", name, "qoe_per_chunk", r.qoe, float(np.std(r.per_trace_qoe)), ref,
                 f"bitrate {r.bitrate_mbps:.3f} Mbps, rebuffer {r.rebuffer_s:.4f} s/chunk, "
                 f"switch {r.smoothness_mbps:.3f} Mbps/chunk, {r.chunks} chunks; std over traces")
            for name, r in results.items()]


def bench_cluster(num_jobs: int, seeds: Sequence[int], num_executors: int = 50) -> list[dict[str, Any]]:
    """FIFO, fair and SJF on the same job sequences (one per seed); ``vs_ref`` is the ratio to FIFO."""
    from agents.baselines.cluster import BASELINES
    from agents.envs.cluster import ClusterSchedulingEnv
    from agents.policy import run_episode

    env = ClusterSchedulingEnv(num_executors=num_executors, num_jobs=num_jobs, graph_info=False)
    jct: dict[str, list[float]] = {}
    steps: dict[str, int] = {}
    for name, cls in BASELINES.items():
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
    from agents.baselines.viewport import BASELINES
    from agents.viewport_data import DATASETS, load_windows, mean_absolute_error

    windows = load_windows("test")
    rows = []
    for subset in ("all", *DATASETS):
        part = windows if subset == "all" else windows.subset(subset)
        scores = {}
        for name, cls in BASELINES.items():
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
    import gymnasium as gym

    import agents  # noqa: F401
    from agents.abr.env import ABREnv

    actions = np.random.default_rng(0).integers(6, size=4096).tolist()
    rows = []
    for label, env in (("single env (bare)", ABREnv()), ("single env (gymnasium.make)", gym.make("hwsim/ABR-v0"))):
        it = iter(range(1 << 62))

        def step(env=env) -> bool:
            return env.step(actions[next(it) & 4095])[2]

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


def bench_ppo(timesteps: int, seed: int = 0, subprocess: bool = False, n_envs: int = 8) -> list[dict[str, Any]]:
    """Train PPO on ``hwsim/ABR-v0`` (HSDPA train traces) and score it on the FCC and HSDPA test
    protocols next to BBA and robustMPC."""
    from agents.abr.evaluate import evaluate_abr
    from agents.abr.baselines import BBA, RobustMPC
    from agents.abr.env import ABREnv
    from agents.ppo import PPOConfig, SB3Policy, make_ppo

    start = time.perf_counter()
    model = make_ppo("hwsim/ABR-v0", PPOConfig(n_envs=n_envs), seed=seed, subprocess=subprocess)
    model.learn(total_timesteps=timesteps)
    train_s = time.perf_counter() - start
    rows = []
    for trace_set in ("fcc-test", "hsdpa-test"):
        env = ABREnv(trace_set, train=False)
        scores = {p.name: evaluate_abr(p, env).qoe for p in (BBA(), RobustMPC(), SB3Policy(model))}
        for name, qoe in scores.items():
            detail = f"PPO: {timesteps} steps on hsdpa-train, {train_s:.0f} s, seed {seed}" if name == "ppo" else ""
            rows.append(_row(f"abr-{trace_set}", name, "qoe_per_chunk", qoe, None, scores["bba"], detail))
    return rows


def main(argv: Sequence[str]) -> int:
    """Run the agents benchmark; prints a table and writes JSON with ``--json``."""
    parser = argparse.ArgumentParser(prog="hwsim bench agents", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer CJS jobs and seeds, shorter timing, shorter PPO")
    parser.add_argument("--ppo", action="store_true", help="also train PPO on ABR and compare it with BBA and MPC")
    parser.add_argument("--ppo-steps", type=int, default=None, help="PPO timesteps (default 20k quick, 300k full)")
    parser.add_argument("--ppo-subprocess", action="store_true", help="run PPO's environments in subprocesses")
    parser.add_argument("--seed", type=int, default=0, help="PPO seed")
    parser.add_argument("--json", default=None, help="write the results to this JSON file")
    args = parser.parse_args(list(argv))
    from hwsim.report import write_bench

    quick = args.quick
    rows = bench_abr("fcc-test")
    rows += bench_cluster(num_jobs=50 if quick else 200, seeds=[0] if quick else [0, 1, 2])
    rows += bench_viewport()
    rows += bench_throughput(min_time=1.0 if quick else 3.0)
    if args.ppo:
        steps = args.ppo_steps or (20_000 if quick else 300_000)
        rows += bench_ppo(steps, seed=args.seed, subprocess=args.ppo_subprocess)
    write_bench(args.json, "agents", rows, columns=ROWS, quick=quick,
                note="timings are wall-clock on a shared machine; QoE, JCT and MAE do not depend on timing")
    return 0
