"""``hwsim bench perturbation``: the device jumps mid-training; does training recover?

Each case trains for ``--before`` epochs, then a perturbation hits the device (every output
channel's gain multiplied by ``1 + N(0, m^2)`` and every input channel offset by ``N(0, m^2)`` of full
scale, through :class:`hwsim.nonideal.Perturbation`: on the optical system a per-pixel phase shift of
the SLM, which scrambles the speckle), and training goes on for ``--after`` epochs. The test
accuracy is taken just before the jump, right after it (same weights, changed device) and after
each epoch of recovery. Compared:

- ``mfff``: keeps training on fresh measurements of the changed device;
- ``pat-stale``: physics-aware training that keeps its twin fitted to the old device (its forward
  passes are measured on the changed device, its gradients come from the stale twin);
- ``pat-refit``: physics-aware training that measures new twin data and refits the twin right after
  the jump (those measurements are counted in ``meas_recovery``);
- ``mfff-control`` and ``pat-control``: the same runs without the jump, the accuracy a recovered run
  should be compared with (training goes on improving meanwhile).

Under ``--profiles ideal,harsh``, ``ideal`` has nothing but the jump; ``harsh`` adds its own drift,
noise, random Poisson jumps and lost replies throughout.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace
from typing import Any, Sequence

from hwsim.errors import ConfigError

# variant -> (method, refit the twin after the jump, jump at all)
VARIANTS = {"mfff": ("mfff", False, True), "pat-stale": ("pat", False, True), "pat-refit": ("pat", True, True),
            "mfff-control": ("mfff", False, False), "pat-control": ("pat", False, False)}


def perturbed_device(cfg: Any) -> Any:
    """The config's device under its profile, with a :class:`Perturbation` stage that can be triggered."""
    from hwsim.nonideal import apply_profile, get_profile
    from hwsim.registry import create_device

    profile = replace(get_profile(cfg.profile or "ideal"), jumps=True)
    return apply_profile(create_device(cfg.system), profile, seed=cfg.seed)


def jump(device: Any, magnitude: float) -> None:
    """Hit the device: random per-channel output gain and input offset, both of std ``magnitude``."""
    from hwsim.nonideal import Perturbation, find_wrapper

    pert = find_wrapper(device, Perturbation)
    pert.trigger("output_gain", magnitude, random=True)
    pert.trigger("input_offset", magnitude, random=True)


def run_case(cfg: Any, variant: str, before: int, after: int, magnitude: float) -> dict[str, Any]:
    """Train, jump, recover; returns the accuracies and the measurements of the recovery."""
    import numpy as np

    from physical.trainer import Trainer

    device = perturbed_device(cfg)
    trainer = Trainer(cfg, device=device, record=False)
    try:
        trainer.run(until=before)
        acc_before = trainer.evaluate(train=False)["test_acc"]
        if VARIANTS[variant][2]:
            jump(device, magnitude)
        acc_after = trainer.evaluate(train=False)["test_acc"]
        def spent() -> int:  # device rows for learning (training batches and twin data), not evaluation
            return trainer.counts["train"] + trainer.counts["twin"]

        start = spent()
        if VARIANTS[variant][1]:
            with trainer.counting("twin"):
                trainer.method.refit_twin(trainer.data.x_train, np.random.default_rng([cfg.seed, 7, before]))
        refit = spent() - start
        curve = []
        for _ in range(after):
            trainer.train_epoch()
            curve.append(trainer.evaluate(train=False)["test_acc"])
        return {"before": acc_before, "right_after": acc_after, "curve": curve,
                "meas_recovery": spent() - start, "meas_refit": refit,
                "wall_s": trainer.wall}
    finally:
        device.close()


def _run(args: tuple[dict[str, Any], str, int, int, float]) -> dict[str, Any]:
    import torch

    from physical.trainer import TrainConfig

    torch.set_num_threads(1)
    cfg_dict, variant, before, after, magnitude = args
    return run_case(TrainConfig.from_dict(cfg_dict), variant, before, after, magnitude)


def main(argv: Sequence[str]) -> int:
    """Run the perturbation experiment and print/write its table."""
    from hwsim.progress import progress
    from hwsim.report import mean_std, write_bench
    from physical.bench import SYSTEM_SPECS
    from physical.trainer import make_config

    p = argparse.ArgumentParser(prog="hwsim bench perturbation", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small subset, few epochs (for tests)")
    p.add_argument("--json", metavar="FILE", help="write the table as JSON")
    p.add_argument("--system", default="optical", help="system name or device spec (default optical)")
    p.add_argument("--dataset", default="mnist1d", help="data set (default mnist1d: there the physical layer matters)")
    p.add_argument("--profiles", default="ideal,harsh", help="comma-separated profiles (default ideal,harsh)")
    p.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated subset of {','.join(VARIANTS)}")
    p.add_argument("--seeds", type=int, help="seeds per case (default 3; --quick 1)")
    p.add_argument("--before", type=int, help="epochs before the jump (default 5; --quick 2)")
    p.add_argument("--after", type=int, help="epochs after the jump (default 3; --quick 2)")
    p.add_argument("--magnitude", type=float, default=0.5,
                   help="std of the per-channel output-gain and input-offset jumps (default 0.5)")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="parallel cases (default 2)")
    args = p.parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    bad = [v for v in variants if v not in VARIANTS]
    if bad:
        raise ConfigError(f"unknown variants {bad}; choose from {', '.join(VARIANTS)}")
    profiles = [q.strip() for q in args.profiles.split(",") if q.strip()]
    seeds = args.seeds or (1 if args.quick else 3)
    before = args.before or (2 if args.quick else 5)
    after = args.after or (2 if args.quick else 3)
    budget: dict[str, Any] = {"max_train": 300, "max_test": 100, "twin_samples": 600, "twin_epochs": 30} \
        if args.quick else {}
    spec = SYSTEM_SPECS.get(args.system, args.system)
    cases = []
    for profile in profiles:
        for variant in variants:
            for seed in range(seeds):
                cfg = make_config(args.dataset, system=spec, method=VARIANTS[variant][0], seed=seed, profile=profile,
                                  epochs=before + after, eval_every=10 ** 6, eval_train_samples=0, **budget)
                cases.append(((profile, variant), (cfg.to_dict(), variant, before, after, args.magnitude)))
    t0 = time.perf_counter()
    outcomes: list[dict[str, Any]] = []
    bar = progress(total=len(cases), desc="bench perturbation")
    if args.jobs <= 1:
        for _, job in cases:
            outcomes.append(_run(job))
            bar.update(1)
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=args.jobs, mp_context=mp.get_context("fork")) as pool:
            for out in pool.map(_run, [job for _, job in cases]):
                outcomes.append(out)
                bar.update(1)
    bar.close()
    rows = []
    for profile in profiles:
        for variant in variants:
            res = [o for (key, _), o in zip(cases, outcomes) if key == (profile, variant)]

            def stat(values: list[float]) -> str:
                m, s = mean_std(values)
                return f"{m:.3f}+-{s:.3f}"

            rows.append({
                "profile": profile, "method": variant, "seeds": len(res),
                "before": stat([r["before"] for r in res]),
                "right_after": stat([r["right_after"] for r in res]),
                "after_1": stat([r["curve"][0] for r in res]) if after else None,
                f"after_{after}": stat([r["curve"][-1] for r in res]) if after else None,
                "meas_recovery": int(mean_std(r["meas_recovery"] for r in res)[0]),
                "meas_refit": int(mean_std(r["meas_refit"] for r in res)[0]),
                "curves": [[round(v, 4) for v in r["curve"]] for r in res],
                "before_seeds": [round(r["before"], 4) for r in res],
                "right_after_seeds": [round(r["right_after"], 4) for r in res],
            })
    columns = ["profile", "method", "seeds", "before", "right_after", "after_1", f"after_{after}", "meas_recovery",
               "meas_refit"]
    write_bench(args.json, "perturbation", rows, columns, system=spec, dataset=args.dataset,
                magnitude=args.magnitude, before_epochs=before, after_epochs=after, budget=budget,
                elapsed_s=round(time.perf_counter() - t0, 1))
    return 0
