from __future__ import annotations

import subprocess
import sys

from hwsim.cli import COMMANDS, main, resolve
from hwsim.cli.bench import BENCHES


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


def test_unknown_command_exits_2(capsys):
    assert main(["frobnicate"]) == 2
    assert "unknown command" in capsys.readouterr().err


def test_help_does_not_import_heavy_libraries():
    code = ("import sys; from hwsim.cli import main; main(['--help']); "
            "libs = ('torch', 'tvm', 'transformers', 'matplotlib', 'gymnasium', 'scipy'); "
            "heavy = [m for m in libs if m in sys.modules]; "
            "print(heavy); assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_every_command_and_bench_resolves():
    for target, _ in [*COMMANDS.values(), *BENCHES.values()]:
        assert callable(resolve(target)), target


def test_hwsim_errors_become_messages(capsys):
    assert main(["data", "no-such-set"]) == 2
    assert "unknown data set" in capsys.readouterr().err
