"""``hwsim compress``: RL-driven network compression. Subcommand ``n2n`` runs N2N learning (layer
removal, then layer shrinkage, REINFORCE) on a teacher of the zoo and writes ``runs/<name>/``."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from agents.n2n.data import DATASETS
from agents.n2n.distill import DistillConfig
from agents.n2n.latency import calibrate_on_target, calibration_set
from agents.n2n.layers import arch_from_json, build
from agents.n2n.reinforce import ReinforceConfig
from agents.n2n.reward import REWARDS
from agents.n2n.task import SHRINK_FACTORS, TaskConfig
from agents.n2n.teachers import MODELS, teacher_spec
from agents.n2n.trainer import N2NConfig, N2NTrainer, export_student
from hwsim.errors import ConfigError
from hwsim.jobs import add_backend_options, backend_from_args


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got '{text}'") from exc


def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def add_task_options(p: argparse.ArgumentParser, distill_epochs: int | None = 4,
                     max_params_ratio: float | None = None) -> None:
    """Options that define the compression task (shared by ``hwsim compress n2n`` and the bench) with
    their defaults (``distill_epochs=None``: the caller fills it in)."""
    p.add_argument("--teacher", choices=MODELS, default="resnet", help="teacher of the zoo (default: resnet)")
    p.add_argument("--dataset", choices=DATASETS, default="digits", help="data set (default: digits)")
    p.add_argument("--quick", action="store_true", help="a small, briefly trained teacher (smoke runs)")
    p.add_argument("--reward", choices=REWARDS, default="params",
                   help="student cost in the reward: parameters, estimated or measured latency (default: params)")
    p.add_argument("--target", default="host", help="edge target of the latency rewards (default: host)")
    p.add_argument("--distill-epochs", type=int, default=distill_epochs,
                   help=f"distillation budget per student (default: {distill_epochs or 'per setting'})")
    p.add_argument("--factors", type=_floats, default=SHRINK_FACTORS,
                   help="shrink factors of stage 2 (default: %(default)s)")
    p.add_argument("--max-params-ratio", type=float, default=max_params_ratio,
                   help="size constraint on the final student: stage 2 scores -1 above this fraction of the "
                        f"teacher's parameters (default: {max_params_ratio or 'none'})")
    p.add_argument("--calibrate", action="store_true",
                   help="fit the latency estimate to networks compiled and timed on --target first")


def add_student_backend_options(p: argparse.ArgumentParser) -> None:
    """Where new students are evaluated: ``--workers N`` local processes (default 1: this process) or
    ``--ray [ADDRESS]`` (the options of :func:`hwsim.jobs.add_backend_options`)."""
    add_backend_options(p, jobs_flags=("--workers", "--jobs"))


def task_config(args: argparse.Namespace, student_seed: int = 0) -> Any:
    """The :class:`~agents.n2n.task.TaskConfig` of parsed task options (calibrating the latency model when asked)."""
    cfg = TaskConfig(teacher=args.teacher, dataset=args.dataset, quick=args.quick, reward=args.reward,
                     target=args.target, distill=DistillConfig(epochs=args.distill_epochs), student_seed=student_seed,
                     factors=tuple(args.factors), max_params_ratio=args.max_params_ratio)
    if args.calibrate:

        spec = teacher_spec(args.teacher, args.dataset, args.quick, cfg.teacher_seed)
        model, _ = calibrate_on_target(calibration_set(spec.arch), args.target)
        cfg = replace(cfg, latency_model=model)
    return cfg


def n2n_main(argv: Sequence[str]) -> int:
    """``hwsim compress n2n``: search, final distillation, optional latency measurement and export."""
    p = argparse.ArgumentParser(prog="hwsim compress n2n", description=(
        "N2N learning (Ashok et al. 2018): a bidirectional-LSTM policy removes layers of a teacher, then an "
        "autoregressive LSTM shrinks the layers of the best student; both trained with REINFORCE on "
        "R = C(2-C) acc_s/acc_t over students distilled from the teacher."))
    add_task_options(p)
    p.add_argument("--removal-updates", type=int, default=12, help="policy updates of stage 1 (default: 12)")
    p.add_argument("--shrink-updates", type=int, default=12, help="policy updates of stage 2 (default: 12)")
    p.add_argument("--rollouts", type=int, default=5, help="students sampled per update (default: 5)")
    p.add_argument("--lr", type=float, default=ReinforceConfig.lr, help="policy learning rate (default: %(default)s)")
    p.add_argument("--final-epochs", type=int, default=30, help="distillation budget of the best student (default: 30)")
    p.add_argument("--seed", type=int, default=0, help="policy seed (default: 0)")
    p.add_argument("--name", default=None, help="run name (default: n2n-<teacher>-<dataset>)")
    p.add_argument("--runs-dir", default="runs", help="folder of run records (default: runs)")
    p.add_argument("--resume", action="store_true", help="continue the run from its checkpoint")
    p.add_argument("--threads", type=int, default=1, help="PyTorch threads per worker (default: 1)")
    p.add_argument("--measure-latency", action="store_true",
                   help="compile teacher and best student for --target with edge and report the latency ratio")
    p.add_argument("--export", default=None, metavar="DIR", help="export the best student through edge to DIR/<target>")
    p.add_argument("--export-targets", type=_names, default=("host", "jetson-orin"),
                   help="targets of --export (default: host,jetson-orin)")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the results JSON here")
    add_student_backend_options(p)
    args = p.parse_args(argv)
    if args.threads < 1:
        raise ConfigError("--threads must be at least 1")
    backend = backend_from_args(args, threads=args.threads)

    import torch

    torch.set_num_threads(args.threads)
    cfg = N2NConfig(task=task_config(args), removal_updates=args.removal_updates, shrink_updates=args.shrink_updates,
                    reinforce=ReinforceConfig(lr=args.lr, rollouts=args.rollouts), final_epochs=args.final_epochs,
                    seed=args.seed, name=args.name or f"n2n-{args.teacher}-{args.dataset}", root=args.runs_dir,
                    resume=args.resume, workers=args.jobs or 1, threads=args.threads,
                    measure_latency=args.measure_latency, export_dir=args.export, export_targets=args.export_targets)
    results = N2NTrainer(cfg, backend=backend).run()
    print(summary(results))
    print(f"run folder: {Path(cfg.root) / cfg.name}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2, default=str) + "\n")
        print(f"wrote {args.json}")
    return 0


def summary(results: dict[str, Any]) -> str:
    """A few lines on the best student of an N2N run."""
    t, b = results["teacher"], results["best"]
    lines = [f"teacher  {results['task']['teacher']['arch']}: {t['params']} parameters, "
             f"test accuracy {t['test_acc']:.4f}",
             f"student  {b['arch']}: {b['params']} parameters ({b['compression']:.1f}x fewer), "
             f"test accuracy {b['final']['test_acc']:.4f} ({abs(100 * b['test_acc_drop']):.2f} points "
             f"{'below' if b['test_acc_drop'] > 0 else 'above'} the teacher), "
             f"search reward {b['reward']:.4f}",
             f"search   {results['students_evaluated']} distinct students, {results['rollouts']} rollouts, "
             f"{results['search_wall_s']:.0f} s wall, {results['search_cpu_s']:.0f} s CPU"]
    if "latency" in b:
        lat = b["latency"]
        lines.append(f"latency  on {lat['target']}: {1e3 * lat['student_s']:.3f} ms vs teacher "
                     f"{1e3 * lat['teacher_s']:.3f} ms (ratio {lat['ratio']:.3f}; parameter ratio "
                     f"{b['params_ratio']:.3f}; estimated latency ratio {b['latency_est_ratio']:.3f})")
    for target, e in b.get("exports", {}).items():
        lines.append(f"export   {target}: {e['path']}" + (f" ({e['note']})" if e.get("note") else ""))
    return "\n".join(lines)


def export_main(argv: Sequence[str]) -> int:
    """``hwsim compress export``: compile the best student of a finished run with edge and export it."""
    import torch


    p = argparse.ArgumentParser(prog="hwsim compress export",
                                description="Export the best student of an N2N run as edge artifacts.")
    p.add_argument("run", help="the run folder (runs/<name>) holding best_student.pt")
    p.add_argument("--out", default=None, help="artifact folder (default: <run>/artifacts); one subfolder per target")
    p.add_argument("--targets", type=_names, default=("host", "jetson-orin"),
                   help="edge targets (default: host,jetson-orin)")
    args = p.parse_args(argv)
    path = Path(args.run) / "best_student.pt"
    if not path.exists():
        raise ConfigError(f"{path} does not exist; run 'hwsim compress n2n' to the end first")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    arch = arch_from_json(blob["arch"])
    model = build(arch)
    model.load_state_dict(blob["state_dict"])
    out = Path(args.out) if args.out else Path(args.run) / "artifacts"
    for target, e in export_student(model.eval(), arch, args.targets, out).items():
        print(f"{target}: {e['path']} (verified: {e['verification']} on {e['verified_on']})"
              + (f"; {e['note']}" if e.get("note") else ""))
    return 0


SUBCOMMANDS = {"n2n": (n2n_main, "N2N learning: layer removal then shrinkage by REINFORCE"),
               "export": (export_main, "export the best student of a run as edge artifacts (host, jetson-orin)")}


def main(argv: Sequence[str]) -> int:
    """Entry point of ``hwsim compress``."""
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: hwsim compress <subcommand> [options]\n\nsubcommands:")
        for name, (_, text) in SUBCOMMANDS.items():
            print(f"  {name}  {text}")
        return 0
    if argv[0] not in SUBCOMMANDS:
        raise ConfigError(f"unknown subcommand '{argv[0]}'; known: {', '.join(SUBCOMMANDS)}")
    return SUBCOMMANDS[argv[0]][0](list(argv[1:]))
