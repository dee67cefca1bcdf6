"""``hwsim rl``: train PPO on a networking environment and score a trained policy.

    hwsim rl train --env hwsim/ABR-v0 --total-steps 20000000 --seed 0 --run-dir runs/ppo-abr-s0
    hwsim rl train --run-dir runs/ppo-abr-s0 --resume          # continue from the checkpoint
    hwsim rl eval --run-dir runs/ppo-abr-s0                     # the test protocol and its baselines

Every field of :class:`agents.rl.ppo.PPOTrainConfig` is an option (``--num-envs``, ``--ent-coef``, ...);
``--env-kwarg key=value`` passes an environment argument (values are read as JSON, else as text).
A run folder holds ``metrics.jsonl``, ``checkpoint.pt``, ``curve.png`` and ``result.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import typing
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from agents.rl.ppo import PPOTrainConfig, load_agent, load_checkpoint, train_ppo
from agents.rl.tasks import env_kwargs, get_task
from hwsim.errors import ConfigError
from hwsim.runs import RunRecord

_RENAMED = {"env_id": "env"}  # config field -> option name (--env reads better than --env-id)


def _option(name: str) -> str:
    return "--" + _RENAMED.get(name, name).replace("_", "-")


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """One option per :class:`PPOTrainConfig` field, typed from its annotation; defaults come from
    the dataclass (``None`` here means: keep the config's default)."""
    hints = typing.get_type_hints(PPOTrainConfig)
    for f in dataclasses.fields(PPOTrainConfig):
        if f.name == "env_kwargs":
            continue
        hint = hints[f.name]
        default = f.default
        if hint is bool:
            parser.add_argument(_option(f.name), dest=f.name, action=argparse.BooleanOptionalAction, default=None,
                                help=f"(default {default})")
        elif f.name == "hidden":
            parser.add_argument(_option(f.name), dest=f.name, type=int, nargs="+", default=None,
                                help=f"hidden layer widths (default {' '.join(map(str, default))})")
        else:
            kind = next((t for t in (int, float, str) if t is hint or t in typing.get_args(hint)), str)
            parser.add_argument(_option(f.name), dest=f.name, type=kind, default=None, help=f"(default {default})")


def config_from_args(args: argparse.Namespace, base: PPOTrainConfig | None = None) -> PPOTrainConfig:
    """The config the options describe, over ``base`` (a resumed run's config) or the defaults."""
    values = dataclasses.asdict(base or PPOTrainConfig())
    for f in dataclasses.fields(PPOTrainConfig):
        given = getattr(args, f.name, None)
        if given is not None:
            values[f.name] = tuple(given) if f.name == "hidden" else given
    for item in args.env_kwarg or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--env-kwarg needs key=value; got '{item}'")
        values["env_kwargs"] = {**values["env_kwargs"], key: _parse_value(value)}
    values["hidden"] = tuple(values["hidden"])
    return PPOTrainConfig(**values)


def _train(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir) if args.run_dir else None
    base = None
    if args.resume:
        if run_dir is None:
            raise ConfigError("--resume needs the --run-dir of the run to continue")
        base, _ = load_checkpoint(run_dir)
    cfg = config_from_args(args, base)
    if run_dir is None:
        run_dir = Path("runs") / f"ppo-{cfg.env_id.split('/')[-1]}-s{cfg.seed}"
    run = RunRecord(run_dir.name, root=run_dir.parent, resume=args.resume)
    result = train_ppo(cfg, run, resume=args.resume)
    print(f"{cfg.env_id}: {result.env_steps} env steps, {result.train_seconds:.0f} s training "
          f"({result.steps_per_second:.0f} steps/s incl. inference and updates; {result.train_cpu_seconds:.0f} s CPU), "
          f"{result.eval_seconds:.0f} s testing")
    _print_scores(result.metrics, result.references)
    print(f"run folder: {run.dir}")
    return 0


def _print_scores(metrics: dict[str, float], references: dict[str, dict[str, float]]) -> None:
    for metric, value in metrics.items():
        refs = ", ".join(f"{name} {v:.3f}" for name, v in references.get(metric, {}).items())
        print(f"  {metric}: ppo {value:.3f}" + (f"  ({refs})" if refs else ""))


def _eval(args: argparse.Namespace) -> int:
    agent = load_agent(args.run_dir, args.env)
    config, _ = load_checkpoint(args.run_dir)
    env_id = args.env or config.env_id
    task = get_task(env_id)
    kwargs = env_kwargs(env_id, config.env_kwargs if env_id == config.env_id else None)
    metrics = task.evaluate(agent, kwargs)
    references = task.references(kwargs)
    print(f"{env_id} test protocol, policy from {args.run_dir}:")
    _print_scores(metrics, references)
    if args.json:
        Path(args.json).write_text(json.dumps({"env_id": env_id, "metrics": metrics, "references": references},
                                              indent=2, default=lambda v: np.asarray(v).tolist()) + "\n")
    return 0


def main(argv: Sequence[str]) -> int:
    """Entry point of ``hwsim rl``."""
    parser = argparse.ArgumentParser(prog="hwsim rl", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train PPO on a vectorised environment (progress, log, checkpoint, curve)")
    add_config_options(train)
    train.add_argument("--env-kwarg", action="append", metavar="KEY=VALUE", help="an environment argument")
    train.add_argument("--run-dir", default=None, help="run folder (default runs/ppo-<env>-s<seed>)")
    train.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its checkpoint")
    evaluate = sub.add_parser("eval", help="score a trained policy on its test protocol next to the baselines")
    evaluate.add_argument("--run-dir", required=True, help="run folder (or checkpoint file) of hwsim rl train")
    evaluate.add_argument("--env", default=None, help="another id of the same family (default: the trained one)")
    evaluate.add_argument("--json", default=None, help="write the scores to this JSON file")
    args = parser.parse_args(list(argv))
    return _train(args) if args.command == "train" else _eval(args)
