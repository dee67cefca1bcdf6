"""``hwsim bench perturbation``: the device changes under a trained network; does training keep up?

Two kinds of change (``--kind``):

- ``jump``: each case trains for ``--before`` epochs, then a perturbation hits the device (every
  output channel's gain multiplied by ``1 + N(0, m^2)`` and every input channel offset by
  ``N(0, m^2)`` of full scale, through :class:`hwsim.nonideal.Perturbation`: on the optical system a
  per-pixel phase shift of the SLM, which scrambles the speckle), and training goes on for
  ``--after`` epochs. Test accuracy just before the jump, right after it (same weights, changed
  device) and after each epoch of recovery.
- ``decorrelation``: the optical medium itself decorrelates, ``T <- sqrt(1-e) T + sqrt(e) N`` on the
  simulated clock (the ``lab`` profile with its correlation time replaced by
  ``--decorrelation-time``), while training runs for ``--before + --after`` epochs. Test accuracy
  after every epoch against simulated hours and the medium's remaining correlation with its
  initial state.

Compared: the model-free methods (``mfff``, ``local``, ``sf``), which keep training on fresh
measurements of the changed device; ``pat-stale``, physics-aware training that keeps its twin fitted
to the old device (forward passes measured on the changed device, gradients from the stale twin);
``pat-refit``, which measures new twin data and refits (after the jump; with decorrelation, every
``--refit-every`` epochs), those rows counted; and ``*-control`` runs of ``local`` and ``pat`` without
the change (the accuracy a recovered run should be compared with, since training goes on improving).
Under ``--kind jump --profiles ideal,harsh``, ``ideal`` has nothing but the jump; ``harsh`` adds its
own drift, noise, random Poisson jumps and lost replies throughout.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from typing import Any, Sequence

import numpy as np

from hwsim.cli.sweep import data_needs
from hwsim.errors import ConfigError
from hwsim.jobs import Job, add_backend_options, backend_from_args, run_jobs
from hwsim.nonideal import Perturbation, apply_profile, find_clock, find_wrapper, get_profile
from hwsim.registry import create_device
from hwsim.report import mean_std, write_bench
from physical.bench import SYSTEM_SPECS
from physical.config import PhysicalTrainConfig, make_config
from physical.trainer import Trainer, device_chain

# variant -> (method, refit the twin, the device changes at all)
VARIANTS = {"mfff": ("mfff", False, True), "local": ("local", False, True), "sf": ("sf", False, True),
            "pat-stale": ("pat", False, True), "pat-refit": ("pat", True, True),
            "local-control": ("local", False, False), "pat-control": ("pat", False, False)}
KINDS = ("jump", "decorrelation")


def perturbed_device(cfg: PhysicalTrainConfig, kind: str, changes: bool, tau: float) -> Any:
    """The config's device under its profile: with a :class:`Perturbation` stage that can be triggered
    (``jump``), or with the medium decorrelating with correlation time ``tau`` (``decorrelation``;
    a static medium when ``changes`` is false)."""
    profile = get_profile(cfg.profile or ("lab" if kind == "decorrelation" else "ideal"))
    if kind == "jump":
        profile = replace(profile, jumps=True)
    else:
        profile = replace(profile, decorrelation_time=tau if changes else 0.0)
    return apply_profile(create_device(cfg.system), profile, seed=cfg.seed)


def jump(device: Any, magnitude: float) -> None:
    """Hit the device: random per-channel output gain and input offset, both of std ``magnitude``."""
    pert = find_wrapper(device, Perturbation)
    pert.trigger("output_gain", magnitude, random=True)
    pert.trigger("input_offset", magnitude, random=True)


def _learning_rows(trainer: Trainer) -> int:
    return trainer.counts["train"] + trainer.counts["twin"]


def _refit(trainer: Trainer, seed: int, tag: int) -> None:
    with trainer.counting("twin"):
        trainer.method.refit_twin(trainer.data.x_train, np.random.default_rng([seed, 7, tag]))


def run_jump(cfg: PhysicalTrainConfig, variant: str, before: int, after: int, magnitude: float) -> dict[str, Any]:
    """Train, jump, recover; returns the accuracies and the device rows of the recovery."""
    _, refit, changes = VARIANTS[variant]
    device = perturbed_device(cfg, "jump", changes, 0.0)
    trainer = Trainer(cfg, device=device, record=False)
    try:
        for _ in range(before):
            trainer.train_epoch()
        acc_before = trainer.evaluate(train=False)["test_acc"]
        if changes:
            jump(device, magnitude)
        acc_after = trainer.evaluate(train=False)["test_acc"]
        start = _learning_rows(trainer)
        if refit:
            _refit(trainer, cfg.seed, before)
        refit_rows = _learning_rows(trainer) - start
        curve = []
        for _ in range(after):
            trainer.train_epoch()
            curve.append(trainer.evaluate(train=False)["test_acc"])
        return {"before": acc_before, "right_after": acc_after, "curve": curve,
                "meas_recovery": _learning_rows(trainer) - start, "meas_refit": refit_rows, "wall_s": trainer.wall}
    finally:
        device.close()


def run_decorrelation(cfg: PhysicalTrainConfig, variant: str, epochs: int, tau: float, refit_every: int
                      ) -> dict[str, Any]:
    """Train while the medium decorrelates; test accuracy, simulated hours and medium correlation per epoch."""
    _, refit, changes = VARIANTS[variant]
    device = perturbed_device(cfg, "decorrelation", changes, tau)
    clock = find_clock(device)
    # a static medium under a clock-free profile keeps no clock: its time is its rows at the profile's row time
    row_s = get_profile(cfg.profile or "lab").sample_time
    optical = device_chain(device)[-1]
    if not hasattr(optical, "medium_correlation"):
        raise ConfigError(f"--kind decorrelation needs a device with a medium (optical), not '{cfg.system}'")
    trainer = Trainer(cfg, device=device, record=False)
    try:
        points = []
        for epoch in range(epochs):
            if refit and epoch and epoch % refit_every == 0:
                _refit(trainer, cfg.seed, epoch)
            trainer.train_epoch()
            acc = trainer.evaluate(train=False)["test_acc"]
            seconds = clock.t if clock is not None else device.measurements * row_s
            points.append({"epoch": epoch + 1, "hours": seconds / 3600,
                           "correlation": optical.medium_correlation(), "test_acc": acc,
                           "rows": _learning_rows(trainer)})
        return {"points": points, "wall_s": trainer.wall}
    finally:
        device.close()


def case_job(case: dict[str, Any]) -> dict[str, Any]:
    """One case as a job of :mod:`hwsim.jobs`: ``{"kind", "config" (a PhysicalTrainConfig dict with its
    seed), "variant", "params"}`` -> the result of :func:`run_jump` or :func:`run_decorrelation`."""
    cfg, variant, params = PhysicalTrainConfig.from_dict(case["config"]), case["variant"], case["params"]
    if case["kind"] == "jump":
        return run_jump(cfg, variant, params["before"], params["after"], params["magnitude"])
    return run_decorrelation(cfg, variant, params["epochs"], params["tau"], params["refit_every"])


def case_jobs(cases: list[dict[str, Any]]) -> list[Job]:
    """The cases as jobs, each with the registered data sets it reads (found once per data set and device)."""
    return [Job(case_job, case, label=f"{case['config']['profile']} {case['variant']} s{case['config']['seed']}",
                needs=needs) for case, needs in zip(cases, data_needs([case["config"] for case in cases]))]


def _stat(values: list[float]) -> str:
    m, s = mean_std(values)
    return f"{m:.3f}+-{s:.3f}"


def jump_row(profile: str, variant: str, res: list[dict[str, Any]], after: int) -> dict[str, Any]:
    """One table row of the jump experiment."""
    return {"profile": profile, "method": variant, "seeds": len(res),
            "before": _stat([r["before"] for r in res]), "right_after": _stat([r["right_after"] for r in res]),
            "after_1": _stat([r["curve"][0] for r in res]) if after else None,
            f"after_{after}": _stat([r["curve"][-1] for r in res]) if after else None,
            "meas_recovery": int(mean_std(r["meas_recovery"] for r in res)[0]),
            "meas_refit": int(mean_std(r["meas_refit"] for r in res)[0]),
            "curves": [[round(v, 4) for v in r["curve"]] for r in res],
            "before_seeds": [round(r["before"], 4) for r in res],
            "right_after_seeds": [round(r["right_after"], 4) for r in res]}


def decorrelation_row(profile: str, variant: str, res: list[dict[str, Any]]) -> dict[str, Any]:
    """One table row of the decorrelation experiment: accuracy at the first, middle and last epoch."""
    n = len(res[0]["points"])
    mid = n // 2

    def at(i: int, key: str) -> list[float]:
        return [r["points"][i][key] for r in res]

    return {"profile": profile, "method": variant, "seeds": len(res),
            "acc_first": _stat(at(0, "test_acc")), "acc_mid": _stat(at(mid, "test_acc")),
            "acc_last": _stat(at(n - 1, "test_acc")), "best": _stat([max(p["test_acc"] for p in r["points"])
                                                                     for r in res]),
            "hours_last": round(float(np.mean(at(n - 1, "hours"))), 2),
            "corr_last": round(float(np.mean(at(n - 1, "correlation"))), 3),
            "rows": int(np.mean(at(n - 1, "rows"))),
            "points": [[{k: (round(v, 4) if isinstance(v, float) else v) for k, v in p.items()} for p in r["points"]]
                       for r in res]}


def main(argv: Sequence[str]) -> int:
    """Run the perturbation experiment and print/write its table."""
    p = argparse.ArgumentParser(prog="hwsim bench perturbation", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kind", default="jump", choices=KINDS, help="what changes: a jump, or the medium decorrelating")
    p.add_argument("--quick", action="store_true", help="small subset, few epochs (for tests)")
    p.add_argument("--json", metavar="FILE", help="write the table as JSON")
    p.add_argument("--system", default="optical", help="system name or device spec (default optical)")
    p.add_argument("--dataset", default="mnist1d", help="data set (default mnist1d: there the physical layer matters)")
    p.add_argument("--profiles", help="comma-separated profiles (default: ideal,harsh for jump, lab for decorrelation)")
    p.add_argument("--variants", help=f"comma-separated subset of {','.join(VARIANTS)} (default all but sf)")
    p.add_argument("--seeds", type=int, help="seeds per case (default 3; --quick 1)")
    p.add_argument("--before", type=int, help="epochs before the jump (default 5; --quick 2)")
    p.add_argument("--after", type=int, help="epochs after the jump (default 3; --quick 2)")
    p.add_argument("--magnitude", type=float, default=0.5,
                   help="std of the per-channel output-gain and input-offset jumps (default 0.5)")
    p.add_argument("--decorrelation-time", type=float, default=1200.0,
                   help="field correlation time of the medium in seconds (default 1200: 20 minutes)")
    p.add_argument("--refit-every", type=int, default=2, help="pat-refit: refit the twin every N epochs (default 2)")
    p.add_argument("--store", metavar="DIR",
                   help="keep each finished case in DIR; running the same command again skips them (resume)")
    add_backend_options(p, default_jobs=min(2, os.cpu_count() or 1), jobs_flags=("--jobs", "--workers"))
    args = p.parse_args(argv)
    backend = backend_from_args(args)  # --ray without Ray stops here, before any work
    variants = [v.strip() for v in (args.variants or ",".join(v for v in VARIANTS if v != "sf")).split(",")
                if v.strip()]
    bad = [v for v in variants if v not in VARIANTS]
    if bad:
        raise ConfigError(f"unknown variants {bad}; choose from {', '.join(VARIANTS)}")
    if args.refit_every < 1 or args.decorrelation_time <= 0:
        raise ConfigError("--refit-every must be >= 1 and --decorrelation-time positive (seconds)")
    default_profiles = "ideal,harsh" if args.kind == "jump" else "lab"
    profiles = [q.strip() for q in (args.profiles or default_profiles).split(",") if q.strip()]
    seeds = args.seeds or (1 if args.quick else 3)
    before = args.before or (2 if args.quick else 5)
    after = args.after or (2 if args.quick else 3)
    budget: dict[str, Any] = {"max_train": 300, "max_test": 100, "twin_samples": 600, "twin_epochs": 30} \
        if args.quick else {}
    spec = SYSTEM_SPECS.get(args.system, args.system)
    if args.quick and args.system == "optical":
        spec = "optical?n_out=128&pool=1"
    params = {"before": before, "after": after, "magnitude": args.magnitude, "epochs": before + after,
              "tau": args.decorrelation_time, "refit_every": args.refit_every}
    cases = []
    for profile in profiles:
        for variant in variants:
            for seed in range(seeds):
                cfg = make_config(args.dataset, system=spec, method=VARIANTS[variant][0], seed=seed, profile=profile,
                                  epochs=before + after, eval_every=10 ** 6, eval_train_samples=0, **budget)
                cases.append(((profile, variant), {"kind": args.kind, "config": cfg.to_dict(), "variant": variant,
                                                   "params": params}))
    report = run_jobs(case_jobs([case for _, case in cases]), backend, store=args.store, desc="bench perturbation")
    outcomes = report.results
    rows = []
    for profile in profiles:
        for variant in variants:
            res = [o for (key, _), o in zip(cases, outcomes) if key == (profile, variant)]
            rows.append(jump_row(profile, variant, res, after) if args.kind == "jump"
                        else decorrelation_row(profile, variant, res))
    if args.kind == "jump":
        columns = ["profile", "method", "seeds", "before", "right_after", "after_1", f"after_{after}",
                   "meas_recovery", "meas_refit"]
    else:
        columns = ["profile", "method", "seeds", "acc_first", "acc_mid", "acc_last", "best", "hours_last",
                   "corr_last", "rows"]
    write_bench(args.json, "perturbation", rows, columns, kind=args.kind, system=spec, dataset=args.dataset,
                magnitude=args.magnitude, decorrelation_time_s=args.decorrelation_time,
                refit_every=args.refit_every, before_epochs=before, after_epochs=after, budget=budget,
                elapsed_s=round(report.elapsed_s, 1), backend=report.backend, ran=report.ran, skipped=report.skipped,
                placement=report.placement())
    print("\n".join(report.summary_lines()))
    return 0
