"""Check the NetLLM adaptation on a lent GPU and measure what the GPU gives over the CPU configuration.

1. The step-by-step cached policy equals the training forward on the GPU (same check as the CPU test).
2. ``hwsim bench netllm`` on the GPU, first with the CPU configuration (same numbers expected up to
   floating point, in a fraction of the time), then with a longer adaptation (``--abr-steps``,
   ``--vp-steps``) that a CPU cannot afford.

    python examples/netllm_gpu_check.py --out gpu_netllm          # writes gpu_netllm/*.json
    python examples/netllm_gpu_check.py --abr-steps 600 --vp-steps 1500
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Sequence


def cached_acting_matches(device: str) -> float:
    """Largest logit difference between cached acting and the full forward on ``device`` (tiny backbone)."""
    import torch

    from agents.netllm.adapt import build
    from agents.netllm.backbone import BackboneSpec
    from agents.netllm.lora import LoRAConfig
    from agents.netllm.offline_rl import DecodeState
    from agents.netllm.tasks import get_task
    from agents.netllm.training import NetLLMTrainConfig

    spaces = {"observation_shape": [6, 8], "action": {"type": "discrete", "n": 6}}
    model = build(get_task("abr"), BackboneSpec("tiny"), LoRAConfig(rank=4), NetLLMTrainConfig(context=3), spaces, 60,
                  device).eval()
    gen = torch.Generator().manual_seed(0)
    obs, rtg = torch.rand(3, 9, 6, 8, generator=gen).to(device), torch.rand(3, 9, generator=gen).to(device)
    prev = torch.randint(0, 7, (3, 9), generator=gen).to(device)
    ts = torch.arange(9, device=device).expand(3, 9)
    with torch.no_grad():
        full = model(obs, prev, rtg, ts)
    state = DecodeState()
    steps = torch.stack([model.act_step(state, obs[:, i], prev[:, i], rtg[:, i], ts[:, i]) for i in range(9)], 1)
    return float((full - steps).abs().max())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the checks; print a summary and write the bench JSON files."""
    import torch

    from agents.netllm import bench

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="gpu_netllm", help="folder for the JSON results")
    p.add_argument("--abr-steps", type=int, default=600)
    p.add_argument("--vp-steps", type=int, default=1500)
    p.add_argument("--skip-cpu-config", action="store_true", help="only run the long configuration")
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        print("no CUDA GPU visible to torch; run this on a machine with one")
        return 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    diff = cached_acting_matches("cuda")
    print(f"cached acting vs training forward on {torch.cuda.get_device_name(0)}: max |logit diff| {diff:.2e}")
    runs = [] if args.skip_cpu_config else [("cpu-config", [])]
    runs.append(("long", ["--abr-steps", str(args.abr_steps), "--vp-steps", str(args.vp_steps)]))
    for label, extra in runs:
        start = time.perf_counter()
        path = out / f"bench_{label}.json"
        bench.main(["--device", "cuda", "--json", str(path), "--runs-dir", str(out / f"runs_{label}"), *extra])
        payload = json.loads(path.read_text())
        print(f"{label}: {time.perf_counter() - start:.0f} s; " + ", ".join(
            f"{r['task']}/{r['method']} {r['value']:.3f}" for r in payload["rows"] if r["method"].startswith("netllm")))
    return 0 if diff < 1e-3 else 2


if __name__ == "__main__":
    raise SystemExit(main())
