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


def bench_task(part: TaskBench, cfg: NetLLMBenchConfig, runs_dir: Path,
               device: str) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """One task's rows: its baselines (and pool policies), the adapted model and, where the task has
    it, the random-weight ablation; with the timings of collection, training and testing."""
    task = get_task(part.task)
    start = time.perf_counter()
    pool = collect_pool(task, task.pool_policies, part.pool_episodes(cfg), seed=cfg.seed)
    pool_path = pool.save(runs_dir / f"pool_{part.task}.npz")
    timings = {f"{part.task}_collect_s": time.perf_counter() - start}
    pool_note = (f"pool: {', '.join(task.pool_policies)} x {part.pool_episodes(cfg) or 'all'} episodes on "
                 f"{pool.env_id} ({len(pool)} steps)")
    spread = "std over traces" if part.task == "abr" else "std over test trajectories"
    names = dict.fromkeys((*part.baselines, *(task.pool_policies if part.task == "abr" else ())))
    summaries = {name: evaluate(task, task.baselines()[name], episodes=part.test_episodes(cfg)) for name in names}
    details = {name: ("pool policy; " if part.task == "abr" and name in task.pool_policies else "") + spread
               for name in summaries}
    config = NetLLMTrainConfig(steps=part.steps(cfg), batch_size=part.batch(cfg), lr=getattr(cfg, f"{part.prefix}_lr"),
                               warmup=10, seed=cfg.seed, context=cfg.context, checkpoint_every=10 ** 6, log_every=5)
    for random in (False, True) if part.ablation else (False,):
        label = "netllm-random" if random else "netllm"
        run = f"bench-netllm-{part.task}" + (("-random" if random else "-pretrained") if part.ablation else "")
        spec = BackboneSpec(cfg.backbone, random_weights=random, num_layers=cfg.layers, seed=cfg.seed)
        out = train_run(part.task, pool_path, run, runs_dir, spec, LoRAConfig(rank=cfg.lora_rank), config, device)
        summary = evaluate(out["task"], make_policy(out["task"], out["model"], out["stats"], config),
                           episodes=part.test_episodes(cfg))
        out["record"].write_json("results.json", summary)
        result = out["result"]
        summaries[label] = summary
        timings[f"{label}_{part.task}_train_s"] = result["wall_s"]
        timings[f"{label}_{part.task}_eval_s"] = summary["eval_s"]
        details[label] = (f"{result['backbone']}{' (ablation: random weights)' if random else ''}, "
                          f"LoRA r{cfg.lora_rank}, {part.steps(cfg)} steps x {part.batch(cfg)} {part.unit}, "
                          f"loss {result['first_loss']:.3f}->{result['final_loss']:.3f}, "
                          f"train {result['wall_s']:.0f} s, eval {summary['eval_s']:.0f} s on {result['device']}; "
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
    args = parser.parse_args(list(argv))
    set_threads(args.threads)
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
    for part in TASK_BENCHES:
        if args.only in (None, part.task):
            part_rows, part_times = bench_task(part, cfg, runs_dir, device)
            rows += part_rows
            timings.update(part_times)
    timings["total_s"] = time.perf_counter() - start
    timings["process_cpu_s"] = time.process_time() - cpu_start
    import torch

    write_bench(args.json, "netllm", rows, columns=ROWS, quick=args.quick, config_name=name, config=asdict(cfg),
                device=device, torch_threads=torch.get_num_threads(), timings=timings,
                note=("wall-clock timings on a shared machine; QoE and MAE do not depend on timing. "
                      f"Device: {device}" + ("" if device.startswith("cuda") else
                                            " (no GPU used; examples/netllm_gpu_check.py runs the GPU configuration)")))
    return 0
