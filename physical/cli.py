"""``hwsim train``: train a physical neural network and print its test accuracy beside its peers (the
physical-off ablation, random features of the same device, a digital MLP with as many parameters, a
digital 2x256 MLP and logistic regression), with device rows, digital FLOPs and the estimated time
on hardware.

Examples::

    hwsim train                                         # MNIST-1D, optical system, local (built-in defaults)
    hwsim train --dataset vowels7                       # the PhyLL acoustic reference settings (mfff)
    hwsim train --method pat --profile lab --seed 3
    hwsim train --device-url /tmp/hwsim-pty/optical     # a board served by 'hwsim serve optical --pty'
    hwsim train --resume                                # continue runs/<name>/ from its checkpoint

Every training setting is an option (default: the data set's preset; see docs/physical.md).
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any, Sequence

import torch

from physical.config import PRESETS, PhysicalTrainConfig, make_config
from physical.peers import PEERS, peer_configs
from physical.trainer import RunResult, Trainer, train

_TYPES = {"int": int, "float": float, "str": str}
# options shown in the first group; the rest go under "training settings"
_MAIN = ("system", "method", "seed", "profile", "device_url")


def _cli_fields() -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(PhysicalTrainConfig) if f.metadata.get("cli", True)]


def _add_option(group: Any, f: dataclasses.Field) -> None:
    """One option for config field ``f``: type, choices and help from the field (default: the preset)."""
    flag = f.metadata.get("flag", "--" + f.name.replace("_", "-"))
    kind = str(f.type).replace(" | None", "")
    kw: dict[str, Any] = {"dest": f.name, "default": None, "help": f.metadata["help"]}
    if kind == "bool":
        group.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
        return
    if "choices" in f.metadata:
        kw["choices"] = f.metadata["choices"]
    group.add_argument(flag, type=_TYPES[kind], **kw)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``hwsim train``: one option per :class:`PhysicalTrainConfig` field."""
    d = PhysicalTrainConfig()
    p = argparse.ArgumentParser(prog="hwsim train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default=d.dataset, choices=sorted(PRESETS),
                   help=f"data set (default {d.dataset}); each has built-in settings (see docs/physical.md)")
    g = p.add_argument_group("training settings (default: the data set's preset)")
    for f in _cli_fields():
        _add_option(p if f.name in _MAIN else g, f)
    p.add_argument("--resume", action="store_true", help="continue the run from its checkpoint")
    p.add_argument("--no-peers", action="store_true",
                   help=f"skip the peers ({', '.join(PEERS)})")
    p.add_argument("--allow-import", action="store_true",
                   help="let --system name a 'module:Class' device (imports that module)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the layers are small)")
    return p


def config_from_args(args: argparse.Namespace) -> PhysicalTrainConfig:
    """The :class:`PhysicalTrainConfig` the parsed options describe."""
    return make_config(args.dataset, **{f.name: getattr(args, f.name) for f in _cli_fields()})


def _giga(flops: float) -> str:
    return f"{flops / 1e9:,.2f}"


def summary_line(label: str, result: RunResult) -> str:
    """One line of the final table: accuracy, device rows, rows per prediction, digital FLOPs, hardware time."""
    acc = f"{100 * result.test_acc:6.2f}%"
    flops = f"{_giga(result.flops_train + result.flops_twin):>9s} GFLOP"
    params = f"{result.digital_params:>8,d} params"
    if not result.physical:
        return f"  {label:<30s} {acc}  {'-':>10s} rows  {'-':>3s} /pred  {flops}  {params}"
    hours = ""
    if result.row_time_s is not None:
        hours = f"  ~{result.learning_rows * result.row_time_s / 3600:.2f} h on hardware"
    return (f"  {label:<30s} {acc}  {result.learning_rows:>10,d} rows  {result.measurements_per_prediction:>3d} /pred"
            f"  {flops}  {params}{hours}")


def main(argv: Sequence[str]) -> int:
    """Run ``hwsim train``."""
    args = build_parser().parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    cfg = config_from_args(args)
    trainer = Trainer(cfg, resume=args.resume, allow_import=args.allow_import)
    try:
        result = trainer.run()
    finally:
        trainer.close()
    where = trainer.record.dir if trainer.record is not None else None
    stop = f", weights of epoch {result.best_epoch} kept (validation)" if result.val_acc is not None else ""
    print(f"run {where}: {result.epochs} epochs{stop}, {result.wall_s:.1f} s"
          + (f", twin R^2 {result.extra['twin_r2']:.3f}" if result.extra.get("twin_r2") is not None else ""))
    label = f"{cfg.method} ({'remote board' if cfg.device_url else cfg.system})"
    lines = [summary_line(label if cfg.uses_device else f"{cfg.method} (physical off)", result)]
    if not args.no_peers:
        peers = peer_configs(cfg, result.digital_params, trainer.data.n_features, trainer.data.n_classes)
        for name, peer in peers.items():
            if peer.method == cfg.method and peer.physical == cfg.physical:
                continue  # the run is its own peer (e.g. an rf run)
            lines.append(summary_line(f"{name} ({peer.method}{'' if peer.uses_device else ', no device'})",
                                      train(peer, record=False, allow_import=args.allow_import)))
    print(f"test accuracy, {cfg.dataset}, seed {cfg.seed} (rows: device rows of training + twin; "
          f"GFLOP: digital FLOPs of training + twin fit):")
    print("\n".join(lines))
    if result.row_time_s is not None:
        print(f"hardware time at {1e3 * result.row_time_s:g} ms per device row ({result.row_time_source})")
    return 0
