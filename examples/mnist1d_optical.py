"""Model-free forward-forward through a simulated optical scattering layer on MNIST-1D.

The optical system is an SLM (phase encoding) in front of a random scattering medium and a camera
of 256 pixels: a fixed, nonlinear random-feature map measured like lab hardware. MNIST-1D is hard
for linear models (logistic regression gets about a third right), so this is where the physical
layer has to earn its keep: compare mfff with the same network with the physical layer off.

    python examples/mnist1d_optical.py                        # full training set, 20 epochs
    python examples/mnist1d_optical.py --max-train 200 --epochs 1
"""

from __future__ import annotations

import argparse
from typing import Sequence

from physical.trainer import compare_with_ablation, comparison_lines, make_config


def main(argv: Sequence[str] | None = None) -> int:
    """Train, compare, print test accuracy per method."""
    import torch

    torch.set_num_threads(1)
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--epochs", type=int, help="default: the preset's 20")
    p.add_argument("--max-train", type=int, help="use only the first N training samples")
    p.add_argument("--max-test", type=int, help="evaluate on only the first N test samples")
    p.add_argument("--system", default="optical?n_out=256&pool=1", help="device spec")
    args = p.parse_args(argv)
    cfg = make_config("mnist1d", system=args.system, method="mfff", epochs=args.epochs, max_train=args.max_train,
                      max_test=args.max_test, eval_every=10 ** 6, eval_train_samples=0)
    results = compare_with_ablation(cfg, range(args.seeds))
    print(f"MNIST-1D, {args.system}, {cfg.epochs} epochs, {args.seeds} seed(s): test accuracy")
    print("\n".join(comparison_lines(results)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
