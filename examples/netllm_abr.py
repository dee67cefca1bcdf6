"""Adapt a language model to adaptive bitrate streaming, NetLLM style, and compare it with BBA and MPC.

Collects an experience pool of BBA, robustMPC and rate-based control on the Norway HSDPA training
traces, trains LoRA + state encoder + bitrate head by return-conditioned offline RL, and plays the
adapted model as a policy on NetLLM's FCC test traces beside the classic controllers and the same
pipeline on a randomly initialised backbone (the ablation).

    python examples/netllm_abr.py --backbone tiny --steps 20 --traces 5     # seconds
    python examples/netllm_abr.py --steps 300 --traces 100                  # SmolLM2-135M, long on a CPU
"""

from __future__ import annotations

import argparse
import tempfile
from typing import Sequence

from agents.netllm.adapt import collect_pool, evaluate, make_policy, train_run
from agents.netllm.backbone import BackboneSpec
from agents.netllm.cli import set_threads
from agents.netllm.tasks import get_task
from agents.netllm.training import NetLLMTrainConfig


def main(argv: Sequence[str] | None = None) -> int:
    """Collect, train, evaluate; print mean QoE per chunk of every method."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backbone", default="smollm2-135m")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--episodes", type=int, default=20, help="pool episodes per baseline")
    p.add_argument("--traces", type=int, default=100, help="FCC test traces to play")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    args = p.parse_args(argv)
    set_threads(args.threads)

    task = get_task("abr")
    config = NetLLMTrainConfig(steps=args.steps, batch_size=4, lr=3e-4, warmup=10, log_every=10)
    with tempfile.TemporaryDirectory() as tmp:
        pool = collect_pool(task, ["bba", "mpc", "rate"], args.episodes).save(f"{tmp}/pool.npz")
        scores = {name: evaluate(task, task.baselines()[name], episodes=args.traces)["value"]
                  for name in ("bba", "mpc", "rate")}
        for random in (False, True):
            spec = BackboneSpec(args.backbone, random_weights=random)
            out = train_run("abr", pool, "random" if random else "pretrained", tmp, spec, config=config,
                            device=args.device)
            label = "random weights (ablation)" if random else "pretrained"
            policy = make_policy(task, out["model"], out["stats"], config, name=f"netllm {label}: {spec.label}")
            scores[policy.name] = evaluate(task, policy, episodes=args.traces)["value"]
    print(f"ABR, FCC test protocol ({args.traces} traces): mean QoE per chunk; pool = bba + mpc + rate, "
          f"{args.episodes} HSDPA episodes each; {args.steps} training steps")
    for name, qoe in scores.items():
        print(f"  {name:52s} {qoe:8.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
