"""``hwsim bench netllm``: the NetLLM-style adapted language model beside the classic baselines.

- ABR, NetLLM's FCC test protocol (100 traces, fixed starts, no noise): mean QoE_lin per chunk of
  the adapted backbone (SmolLM2-135M by default), of the same pipeline on the same architecture with
  random weights (NetLLM's ablation), of BBA, robustMPC (ours and NetLLM's variant) and rate-based
  control; the experience pool is robustMPC's on the Norway HSDPA training traces (its row says
  "pool policy"); ``vs_ref`` is the ratio to BBA.
- VP, test split (videos and users unseen in training): mean absolute error (degrees) of the
  adapted model beside linear regression and constant velocity, with the static predictor as a
  reference; ``vs_ref`` is the ratio to constant velocity.

Every method is played through the same gymnasium environments. Sizes: ``cpu`` (the default without
a GPU: SmolLM2's first 6 of 30 blocks, 300 ABR and 600 VP steps, under an hour on 2 cores), ``gpu``
(all blocks, 2000 and 3000 steps of larger batches), ``--quick`` (a smoke test, not a result).

Each baseline's test episodes and each adapted model (pool collection, adaptation, test episodes) are
independent, seeded jobs of hwsim's job runner: in this process (the default), in ``--workers N`` local
processes, or as Ray tasks with ``--ray [ADDRESS]`` (docs/cluster.md); the rows are the same on every
back end. Each job runs torch on ``--threads`` threads; a Ray task reserves that many CPUs and no GPU.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from agents.bench import ROWS, _row
from agents.netllm.adapt import collect_pool, evaluate, make_policy, resolve_device, train_run
from agents.netllm.backbone import BackboneSpec
from agents.netllm.cli import set_threads
from agents.netllm.lora import LoRAConfig
from agents.netllm.tasks import get_task
from agents.netllm.training import NetLLMTrainConfig
from hwsim.jobs import Job, add_backend_options, backend_from_args, run_jobs
from hwsim.report import write_bench


@dataclass
class NetLLMBenchConfig:
    """Sizes of the benchmark. ``abr_steps`` / ``vp_steps`` are optimiser steps of ``abr_batch``
    episodes / ``vp_batch`` windows; ``traces`` / ``vp_episodes`` limit the test episodes (``None`` =
    all); ``layers`` keeps the first decoder blocks of the backbone (``None`` = all 30 of SmolLM2)."""

    backbone: str = "smollm2-135m"
    layers: int | None = None
    pool_episodes: int = 100
    abr_steps: int = 2000
    abr_batch: int = 8
    abr_lr: float = 1e-3
    context: int = 20
    vp_steps: int = 3000
    vp_batch: int = 32
    vp_lr: float = 2e-4
    lora_rank: int = 16
    traces: int | None = None
    vp_episodes: int | None = None
    seed: int = 0


# Sized for 2 CPU cores in under an hour: the first 6 of SmolLM2's 30 blocks, a few hundred steps.
CPU = NetLLMBenchConfig(layers=6, abr_steps=300, abr_batch=4, vp_steps=600, vp_batch=16)
GPU = NetLLMBenchConfig()  # the whole model, longer adaptation
QUICK = NetLLMBenchConfig(layers=2, pool_episodes=8, abr_steps=8, abr_batch=4, vp_steps=8, vp_batch=8, traces=10,
                    vp_episodes=6)
CONFIGS = {"cpu": CPU, "gpu": GPU, "quick": QUICK}


@dataclass(frozen=True)
class TaskBench:
    """How one task's part of the benchmark reads: its rows' task label and metric, the baseline the
    ratios are to, the baselines shown, whether the random-weight ablation runs, and what its
    configuration's sizes are called."""

    task: str
    label: str
    metric: str
    reference: str
    baselines: tuple[str, ...]
    ablation: bool
    prefix: str  # NetLLMBenchConfig field prefix: abr_steps / vp_steps, ...
    unit: str  # what a batch holds: episodes or windows

    def steps(self, cfg: NetLLMBenchConfig) -> int:
        """Optimiser steps."""
        return getattr(cfg, f"{self.prefix}_steps")

    def batch(self, cfg: NetLLMBenchConfig) -> int:
        """Batch size."""
        return getattr(cfg, f"{self.prefix}_batch")

    def test_episodes(self, cfg: NetLLMBenchConfig) -> int | None:
        """Test episodes (``None``: all)."""
        return cfg.traces if self.task == "abr" else cfg.vp_episodes

    def pool_episodes(self, cfg: NetLLMBenchConfig) -> int | None:
        """Pool episodes (``None``: every training episode)."""
        return cfg.pool_episodes if self.task == "abr" else None

    def describe(self, summary: dict[str, Any]) -> str:
        """The protocol part of a row's detail."""
        if self.task == "abr":
            return (f"{summary['episodes']} traces, bitrate {summary['bitrate_mbps']:.3f} Mbps, rebuffer "
                    f"{summary['rebuffer_s']:.4f} s/chunk, switch {summary['smoothness_mbps']:.3f} Mbps/chunk")
        return f"{summary['windows']} windows of {summary['episodes']} trajectories"


TASK_BENCHES = (
    TaskBench("abr", "abr-fcc-test", "qoe_per_chunk", "bba", ("bba", "mpc", "mpc-netllm", "rate"), True, "abr",
              "episodes"),
    TaskBench("vp", "vp-test", "mae_deg", "velocity", ("linear", "velocity", "static"), False, "vp", "windows"),
)


def _std(summary: dict[str, Any]) -> float:
    return float(np.std(summary.get("per_trace_qoe") or summary.get("per_episode_mae")))


def baseline_job(config: dict[str, Any]) -> dict[str, Any]:
    """Job: the test episodes of ``config["task"]`` (the first ``config["episodes"]``, all for ``None``)
    played by the baseline ``config["policy"]``; the evaluation summary."""
    task = get_task(config["task"])
    return evaluate(task, task.baselines()[config["policy"]], episodes=config["episodes"])


def adapted_job(config: dict[str, Any]) -> dict[str, Any]:
    """Job: one adapted model of the benchmark end to end: its experience pool collected (seeded, so every
    variant of a task gets the same pool), the backbone (``config["random"]``: with random weights)
    adapted on it, and the test episodes played. Pool and run are written under ``config["runs_dir"]`` of
    the machine that ran the job. Returns the evaluation summary, the training result and the pool's."""
    part = next(p for p in TASK_BENCHES if p.task == config["task"])
    cfg = NetLLMBenchConfig(**config["bench"])
    runs_dir = Path(config["runs_dir"])
    task = get_task(part.task)
    start = time.perf_counter()
    pool = collect_pool(task, task.pool_policies, part.pool_episodes(cfg), seed=cfg.seed)
    pool_path = pool.save(runs_dir / f"pool_{part.task}{'-random' if config['random'] else ''}.npz")
    collect_s = time.perf_counter() - start
    train_cfg = train_config(part, cfg)
    spec = BackboneSpec(cfg.backbone, random_weights=config["random"], num_layers=cfg.layers, seed=cfg.seed)
    out = train_run(part.task, pool_path, config["run"], runs_dir, spec, LoRAConfig(rank=cfg.lora_rank), train_cfg,
                    config["device"])
    summary = evaluate(out["task"], make_policy(out["task"], out["model"], out["stats"], train_cfg),
                       episodes=part.test_episodes(cfg))
    out["record"].write_json("results.json", summary)
    keep = ("backbone", "first_loss", "final_loss", "wall_s", "device")
    return {"summary": summary, "train": {k: out["result"][k] for k in keep},
            "pool": {"env_id": pool.env_id, "steps": len(pool), "collect_s": collect_s}}


def train_config(part: TaskBench, cfg: NetLLMBenchConfig) -> NetLLMTrainConfig:
    """The adaptation settings of one task's part of the benchmark."""
    return NetLLMTrainConfig(steps=part.steps(cfg), batch_size=part.batch(cfg), lr=getattr(cfg, f"{part.prefix}_lr"),
                             warmup=10, seed=cfg.seed, context=cfg.context, checkpoint_every=10 ** 6, log_every=5)


def task_jobs(part: TaskBench, cfg: NetLLMBenchConfig, runs_dir: Path, device: str) -> list[Job]:
    """The independent jobs of one task's part: each baseline's (and pool policy's) test episodes, and
    each adapted model (the random-weight ablation where the task has it)."""
    task = get_task(part.task)
    names = dict.fromkeys((*part.baselines, *(task.pool_policies if part.task == "abr" else ())))
    jobs = [Job(baseline_job, {"task": part.task, "policy": name, "episodes": part.test_episodes(cfg)},
                label=f"{part.task} {name}") for name in names]
    for random in (False, True) if part.ablation else (False,):
        run = f"bench-netllm-{part.task}" + (("-random" if random else "-pretrained") if part.ablation else "")
        config = {"task": part.task, "random": random, "bench": asdict(cfg), "run": run, "runs_dir": str(runs_dir),
                  "device": device}
        jobs.append(Job(adapted_job, config, label=f"{part.task} {run}",
                        identity={k: v for k, v in config.items() if k != "runs_dir"}))
    return jobs


def task_rows(part: TaskBench, cfg: NetLLMBenchConfig, jobs: Sequence[Job], results: Sequence[dict[str, Any]]
              ) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """One task's rows from the results of its :func:`task_jobs`: its baselines (and pool policies), the
    adapted model and, where the task has it, the random-weight ablation; with the timings of
    collection, training and testing."""
    task = get_task(part.task)
    spread = "std over traces" if part.task == "abr" else "std over test trajectories"
    summaries: dict[str, dict[str, Any]] = {}
    details: dict[str, str] = {}
    timings: dict[str, float] = {}
    for job, result in zip(jobs, results):
        if job.fn is baseline_job:
            name = job.config["policy"]
            summaries[name] = result
            details[name] = ("pool policy; " if part.task == "abr" and name in task.pool_policies else "") + spread
            continue
        random = job.config["random"]
        label = "netllm-random" if random else "netllm"
        summary, train, pool = result["summary"], result["train"], result["pool"]
        summaries[label] = summary
        timings.setdefault(f"{part.task}_collect_s", pool["collect_s"])
        timings[f"{label}_{part.task}_train_s"] = train["wall_s"]
        timings[f"{label}_{part.task}_eval_s"] = summary["eval_s"]
        pool_note = (f"pool: {', '.join(task.pool_policies)} x {part.pool_episodes(cfg) or 'all'} episodes on "
                     f"{pool['env_id']} ({pool['steps']} steps)")
        details[label] = (f"{train['backbone']}{' (ablation: random weights)' if random else ''}, "
                          f"LoRA r{cfg.lora_rank}, {part.steps(cfg)} steps x {part.batch(cfg)} {part.unit}, "
                          f"loss {train['first_loss']:.3f}->{train['final_loss']:.3f}, "
                          f"train {train['wall_s']:.0f} s, eval {summary['eval_s']:.0f} s on {train['device']}; "
                          f"{pool_note}; {spread}")
    ref = summaries[part.reference]["value"]
    rows = [_row(part.label, name, part.metric, s["value"], _std(s), ref, f"{details[name]}; {part.describe(s)}")
            for name, s in summaries.items()]
    return rows, timings


def main(argv: Sequence[str]) -> int:
    """Run the NetLLM benchmark; prints a table and writes JSON with ``--json``."""
    parser = argparse.ArgumentParser(prog="hwsim bench netllm", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 blocks, tiny pools, few steps, 10 traces: a smoke test")
    parser.add_argument("--config", choices=["auto", "cpu", "gpu"], default="auto",
                        help="sizes: cpu (6 of 30 blocks, a few hundred steps), gpu (all blocks, longer); "
                             "auto picks by device")
    parser.add_argument("--json", default=None, help="write the results to this JSON file")
    parser.add_argument("--backbone", default=None, help="backbone name (default smollm2-135m)")
    parser.add_argument("--layers", type=int, default=None, help="keep only the first N decoder blocks")
    parser.add_argument("--all-layers", action="store_true", help="use every decoder block")
    parser.add_argument("--abr-steps", type=int, default=None)
    parser.add_argument("--vp-steps", type=int, default=None)
    parser.add_argument("--pool-episodes", type=int, default=None)
    parser.add_argument("--traces", type=int, default=None, help="FCC test traces (default all 100)")
    parser.add_argument("--only", choices=["abr", "vp"], default=None, help="run one task only")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    parser.add_argument("--runs-dir", default="runs/bench-netllm", help="where pools and trained adapters go")
    add_backend_options(parser, jobs_flags=("--workers", "--jobs"))
    args = parser.parse_args(list(argv))
    set_threads(args.threads)
    import torch

    threads = torch.get_num_threads()
    device = resolve_device(args.device)
    name = "quick" if args.quick else (args.config if args.config != "auto" else
                                       ("gpu" if device.startswith("cuda") else "cpu"))
    overrides = {"backbone": args.backbone, "layers": args.layers, "abr_steps": args.abr_steps,
                 "vp_steps": args.vp_steps, "traces": args.traces, "pool_episodes": args.pool_episodes}
    cfg = replace(CONFIGS[name], **{k: v for k, v in overrides.items() if v is not None})
    if args.all_layers:
        cfg = replace(cfg, layers=None)
    runs_dir = Path(args.runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    timings: dict[str, float] = {}
    cpu_start = time.process_time()
    parts = [part for part in TASK_BENCHES if args.only in (None, part.task)]
    planned = [task_jobs(part, cfg, runs_dir, device) for part in parts]
    report = run_jobs([job for jobs in planned for job in jobs], backend_from_args(args, threads=threads),
                      desc="netllm bench")
    for part, jobs in zip(parts, planned):
        part_rows, part_times = task_rows(part, cfg, jobs, [report.records[j.key]["result"] for j in jobs])
        rows += part_rows
        timings.update(part_times)
    timings["total_s"] = time.perf_counter() - start
    timings["process_cpu_s"] = time.process_time() - cpu_start
    write_bench(args.json, "netllm", rows, columns=ROWS, quick=args.quick, config_name=name, config=asdict(cfg),
                device=device, torch_threads=threads, timings=timings, backend=report.backend,
                placement=report.placement(),
                note=("wall-clock timings on a shared machine; QoE and MAE do not depend on timing. "
                      f"Device: {device}" + ("" if device.startswith("cuda") else
                                            " (no GPU used; examples/netllm_gpu_check.py runs the GPU configuration)")))
    return 0
