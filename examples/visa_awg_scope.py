"""Model-free forward-forward through an arbitrary waveform generator and an oscilloscope (VISA/SCPI).

The chain file says how to drive the instruments: the AWG plays each row of drive values as an arbitrary
waveform into a physical system (here simulated: a chain of coupled nonlinear pendula), the scope records
the response, and hwsim reads it back as a binary block scaled by the scope's preamble. The trainer sees an
ordinary Device; compare mfff with the same network with the physical layer off, and with logistic
regression, on MNIST-1D.

    python examples/visa_awg_scope.py                                    # simulated Keysight bench
    python examples/visa_awg_scope.py --chain tektronix-awg-scope        # simulated Tektronix bench
    python examples/visa_awg_scope.py --chain lab/awg-scope.yaml --hardware   # your instruments
"""

from __future__ import annotations

import argparse
from typing import Sequence

from hwsim.registry import create_device
from physical.trainer import compare_with_ablation, comparison_lines, make_config


def main(argv: Sequence[str] | None = None) -> int:
    """Show the chain's instruments, train, compare, print test accuracy per method."""
    import torch

    torch.set_num_threads(1)
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--chain", default="keysight-awg-scope", help="shipped chain name or path to a chain file")
    p.add_argument("--hardware", action="store_true", help="talk to the real instruments, not the simulated bench")
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--epochs", type=int, help="default: the preset's")
    p.add_argument("--max-train", type=int, help="use only the first N training samples")
    p.add_argument("--max-test", type=int, help="evaluate on only the first N test samples")
    args = p.parse_args(argv)
    spec = f"visa?config={args.chain}" + ("" if args.hardware else "&simulate=true")
    with create_device(spec) as chain:  # what 'hwsim probe' shows: identities and declared capabilities
        print("\n".join(chain.describe()))
    cfg = make_config("mnist1d", system=spec, method="mfff", epochs=args.epochs, max_train=args.max_train,
                      max_test=args.max_test, eval_every=10 ** 6, eval_train_samples=0)
    results = compare_with_ablation(cfg, range(args.seeds))
    print(f"MNIST-1D through {args.chain}{'' if args.hardware else ' (simulated)'}, {cfg.epochs} epochs, "
          f"{args.seeds} seed(s): test accuracy")
    print("\n".join(comparison_lines(results)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
