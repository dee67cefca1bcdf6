"""``hwsim serve`` in a child process, so host and board do not share a GIL."""

from __future__ import annotations

import select
import subprocess
import sys

from hwsim.errors import ConfigError


class ServedProcess:
    """``hwsim serve <spec> <options>`` running in a child process.

    Use as a context manager; :attr:`url` is the port path or ``socket://`` URL the child printed.
    """

    def __init__(self, spec: str, *options: str, ready_timeout: float = 60.0) -> None:
        cmd = [sys.executable, "-m", "hwsim.cli", "serve", spec, *options]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], ready_timeout)
        line = self.proc.stdout.readline().strip() if ready else ""  # type: ignore[union-attr]
        if not line:
            self.close()
            err = self.proc.stderr.read() if self.proc.stderr else ""  # type: ignore[union-attr]
            raise ConfigError(f"'{' '.join(cmd)}' printed no port within {ready_timeout:g} s: {err.strip()[-500:]}")
        self.url = line

    def close(self) -> None:
        """Stop the child (SIGTERM, then SIGKILL after 5 s)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5.0)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> ServedProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
