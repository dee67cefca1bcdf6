"""Reproduce PhyLL's acoustic vowel experiment (Momeni et al., Science 2023).

Model-free forward-forward on the acoustic cavity (an MLP fitted to the measured input/output pairs
of a real chaotic cavity), the 7-vowel subset, the reference hyperparameters (two blocks of width 20,
full batch, 200 epochs, 10 inner Adam steps at lr 5e-4, alpha 4, batch-maximum label overlay), over
several seeds; beside it the same network with the physical layer switched off, and logistic
regression. The 7-vowel subset is nearly linearly separable, so expect the three to be close.

    python examples/train_vowels.py              # 5 seeds, about a minute on 2 cores
    python examples/train_vowels.py --seeds 1 --epochs 5
"""

from __future__ import annotations

import argparse
from typing import Sequence

from physical.trainer import compare_with_ablation, comparison_lines, make_config


def main(argv: Sequence[str] | None = None) -> int:
    """Train, compare, print mean +- std test accuracy per method."""
    import torch

    torch.set_num_threads(1)
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--epochs", type=int, help="default: the reference's 200")
    p.add_argument("--system", default="acoustic", help="device spec (default acoustic)")
    args = p.parse_args(argv)
    cfg = make_config("vowels7", system=args.system, method="mfff", epochs=args.epochs,
                      eval_every=10 ** 6, eval_train_samples=0)
    results = compare_with_ablation(cfg, range(args.seeds))
    print(f"7-vowel subset, {args.system}, {cfg.epochs} epochs, {args.seeds} seeds: test accuracy")
    print("\n".join(comparison_lines(results)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
