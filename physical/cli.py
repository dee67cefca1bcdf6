"""``hwsim train``: train a physical neural network and print its test accuracy beside the
physical-off ablation and logistic regression.

Examples::

    hwsim train                                         # MNIST-1D, optical system, mfff (built-in defaults)
    hwsim train --dataset vowels7 --system acoustic     # the PhyLL acoustic reference settings
    hwsim train --method pat --profile bench --seed 3
    hwsim train --device-url /tmp/hwsim-pty/optical     # a board served by 'hwsim serve optical --pty'
    hwsim train --resume                                # continue runs/<name>/ from its checkpoint
"""

from __future__ import annotations

import argparse
from typing import Any, Sequence

from physical.methods import METHODS

# command-line option -> TrainConfig field, for the settings a user may override
_OVERRIDES = ("system", "method", "seed", "profile", "device_url", "epochs", "batch_size", "layers", "width",
              "overlay", "overlay_slots", "input_map", "goodness", "alpha", "lr", "inner_steps", "bp_lr",
              "bp_batch_size", "twin_samples", "twin_epochs", "max_train", "max_test", "scaling", "eval_every", "name", "runs_root")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``hwsim train``."""
    from physical.trainer import PRESETS, TrainConfig

    d = TrainConfig()
    p = argparse.ArgumentParser(prog="hwsim train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default=d.dataset, choices=sorted(PRESETS),
                   help=f"data set (default {d.dataset}); each has built-in settings (see docs/physical.md)")
    p.add_argument("--system", help="device spec, e.g. 'optical', 'acoustic', 'optical?n_out=256' "
                                    "(default: the data set's)")
    p.add_argument("--method", choices=sorted(METHODS), help=f"training method (default {d.method})")
    p.add_argument("--device-url", help="measure on a board at this serial URL instead of an in-process system")
    p.add_argument("--profile", help="non-ideality profile wrapped around the device (ideal, bench, harsh)")
    p.add_argument("--seed", type=int, help="seed of the split, initialisation, labels and profile (default 0)")
    p.add_argument("--resume", action="store_true", help="continue the run from its checkpoint")
    p.add_argument("--no-ablation", action="store_true", help="skip the physical-off ablation and logistic regression")
    g = p.add_argument_group("training settings (default: the data set's preset)")
    g.add_argument("--epochs", type=int)
    g.add_argument("--batch-size", type=int, help="forward-forward batch size (0: whole training set)")
    g.add_argument("--layers", type=int, help="number of blocks")
    g.add_argument("--width", type=int, help="block output width (default: overlaid input size)")
    g.add_argument("--overlay", choices=("sample", "batch"), help="label overlay value: per sample or batch maximum")
    g.add_argument("--overlay-slots", type=int, help="label slots in front of the features (>= classes)")
    g.add_argument("--input-map", choices=("auto", "unit", "minmax", "peak", "signed"),
                   help="how activations become device drive values (auto: unit for acoustic, else minmax)")
    g.add_argument("--goodness", choices=("cosine", "sumsq"))
    g.add_argument("--alpha", type=float, help="sharpness of the forward-forward loss")
    g.add_argument("--lr", type=float, help="forward-forward Adam learning rate")
    g.add_argument("--inner-steps", type=int, help="Adam steps per layer per measured batch")
    g.add_argument("--bp-lr", type=float, help="pat/insilico Adam learning rate")
    g.add_argument("--bp-batch-size", type=int, help="pat/insilico batch size")
    g.add_argument("--twin-samples", type=int, help="device rows measured to fit the digital twin")
    g.add_argument("--twin-epochs", type=int, help="epochs of the twin fit")
    g.add_argument("--max-train", type=int, help="use only the first N training samples")
    g.add_argument("--max-test", type=int, help="evaluate on only the first N test samples")
    g.add_argument("--scaling", choices=("zscore", "phyll"), help="feature scaling (phyll: z-score, then >= 0)")
    g.add_argument("--eval-every", type=int, help="evaluate every N epochs")
    o = p.add_argument_group("output")
    o.add_argument("--name", help="run name (default <dataset>-<system>-<method>[-<profile>]-s<seed>)")
    o.add_argument("--runs", dest="runs_root", help="folder of run records (default ./runs)")
    o.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the layers are small)")
    return p


def config_from_args(args: argparse.Namespace) -> Any:
    """The :class:`physical.trainer.TrainConfig` the parsed options describe."""
    from physical.trainer import make_config

    return make_config(args.dataset, **{k: getattr(args, k) for k in _OVERRIDES})


def summary_line(label: str, result: Any) -> str:
    """One line of the final table: accuracy and the measurements it cost."""
    acc = f"{100 * result.test_acc:6.2f}%"
    if not result.physical:
        return f"  {label:<34s} {acc}   (no device)"
    return (f"  {label:<34s} {acc}   {result.measurements:>10,d} device rows "
            f"(train {result.measurements_train:,d}, twin {result.measurements_twin:,d}, "
            f"eval {result.measurements_eval:,d}; {result.measurements_per_prediction} per prediction)")


def main(argv: Sequence[str]) -> int:
    """Run ``hwsim train``."""
    import torch

    from physical.trainer import Trainer, train

    args = build_parser().parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    cfg = config_from_args(args)
    trainer = Trainer(cfg, resume=args.resume)
    try:
        result = trainer.run()
    finally:
        trainer.close()
    where = trainer.record.dir if trainer.record is not None else None
    print(f"run {where}: {result.epochs} epochs, {result.wall_s:.1f} s"
          + (f", twin R^2 {result.extra['twin_r2']:.3f}" if result.extra.get("twin_r2") is not None else ""))
    label = f"{cfg.method} ({'remote board' if cfg.device_url else cfg.system})"
    lines = [summary_line(label if cfg.uses_device else f"{cfg.method} (physical off)", result)]
    if not args.no_ablation and cfg.method != "logreg":
        if cfg.uses_device:
            off = train(cfg.ablation())
            lines.append(summary_line(f"{off.method} (physical off, ablation)", off))
        from dataclasses import replace

        lr = train(replace(cfg, method="logreg", physical=False, name=None), record=False)
        lines.append(summary_line("logistic regression", lr))
    print(f"test accuracy, {cfg.dataset}, seed {cfg.seed}:")
    print("\n".join(lines))
    return 0
