"""The ``hwsim`` command. Each subcommand lives in its area and is imported only when it runs,
so ``hwsim --help`` stays fast."""

from __future__ import annotations

import os
import sys
from typing import Callable, Sequence

from hwsim import __version__
from hwsim.errors import HwsimError
from hwsim.resolve import resolve_name

# name -> (module:function taking argv and returning an exit code, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("hwsim.cli.demo:main", "serve a simulated board on a pty, handshake, measure through it"),
    "serve": ("hwsim.cli.serve:main", "serve a device over a pty or TCP port as a protocol-v1 board"),
    "probe": ("hwsim.cli.probe:main", "handshake with a board at a serial URL and print what it declares"),
    "devices": ("hwsim.cli.devices:main", "list the devices hwsim can build"),
    "data": ("hwsim.cli.data:main", "list, fetch and verify the real data sets"),
    "train": ("physical.cli:main", "train a physical neural network (mfff, pat, insilico, digital)"),
    "sweep": ("hwsim.cli.sweep:main", "a grid of hwsim train runs (seeds x systems x methods ...), here or on Ray"),
    "edge": ("edge.cli:main", "compile, run and benchmark models with TVM for CPU, CUDA and Jetson"),
    "compress": ("agents.n2n.cli:main", "RL-driven network compression (N2N)"),
    "netllm": ("agents.netllm.cli:main", "adapt a language model to networking tasks (collect, train, eval)"),
    "rl": ("agents.rl.cli:main", "train PPO on the networking environments (train, eval)"),
    "bench": ("hwsim.cli.bench:main", "benchmarks: link, physical, perturbation, edge, agents, compress, netllm"),
}


def resolve(target: str) -> Callable[[Sequence[str]], int]:
    """Import ``module:function`` from a command table and return the function."""
    return resolve_name(target, what="command")


def usage(commands: dict[str, tuple[str, str]], prog: str) -> str:
    """Help text listing ``commands``."""
    width = max(map(len, commands))
    lines = [f"usage: {prog} <command> [options]", "", "commands:"]
    lines += [f"  {name.ljust(width)}  {text}" for name, (_, text) in commands.items()]
    lines += ["", f"Run '{prog} <command> --help' for a command's options."]
    return "\n".join(lines)


def dispatch(argv: Sequence[str], commands: dict[str, tuple[str, str]], prog: str) -> int:
    """Run the subcommand named by ``argv[0]`` from ``commands``, turning hwsim errors into messages."""
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage(commands, prog))
        return 0
    if argv[0] == "--version":
        print(f"hwsim {__version__}")
        return 0
    name, rest = argv[0], list(argv[1:])
    if name not in commands:
        print(f"{prog}: unknown command '{name}'\n\n{usage(commands, prog)}", file=sys.stderr)
        return 2
    try:
        return int(resolve(commands[name][0])(rest) or 0)
    except HwsimError as exc:
        print(f"{prog} {name}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog} {name}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - last resort: a one-line report instead of a traceback
        if os.environ.get("HWSIM_DEBUG") == "1":
            raise
        detail = " ".join(str(exc).split())[:500]
        print(f"{prog} {name}: internal error, please report it (with HWSIM_DEBUG=1 for the traceback): "
              f"{type(exc).__name__}: {detail}", file=sys.stderr)
        return 70


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hwsim`` console script."""
    return dispatch(sys.argv[1:] if argv is None else argv, COMMANDS, "hwsim")


if __name__ == "__main__":
    sys.exit(main())
