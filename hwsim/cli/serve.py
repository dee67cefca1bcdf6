"""``hwsim serve``: serve a device as a protocol-v1 board on a pty or TCP port until interrupted.

The first line on stdout is the port to open (a path for ``--pty``, ``socket://host:port`` for
``--tcp``), so scripts can read it; everything else goes to stderr.

Security: a pty is readable and writable by its owner only. A TCP port can be reached by every local
user (and, with ``--host 0.0.0.0``, by the network); it serves one host at a time, drops a host that
stays silent for ``--idle-timeout`` seconds, and with ``--secret-file`` demands an HMAC-SHA256
challenge-response before it measures or changes anything (see docs/protocol.md).
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Sequence

from hwsim.errors import ConfigError
from hwsim.faults import LinkFaults
from hwsim.protocol.auth import load_secret, secret_from_env
from hwsim.registry import create_device
from hwsim.server import DeviceServer
from hwsim.server.device_server import DEFAULT_IDLE_TIMEOUT_S

SPIN_US = 200.0  # default line polling after each reply (microseconds)


def build_server(spec: str, profile: str | None = None, faults: str | None = None, baud: float | None = None,
                 max_payload: int = 65536, spin_s: float = 0.0, secret: bytes | None = None,
                 allow_import: bool = False) -> DeviceServer:
    """A :class:`hwsim.server.DeviceServer` for device ``spec`` with optional profile, link faults, pacing,
    line polling after each reply (``spin_s``) and shared secret; ``allow_import`` lets ``spec`` be a
    ``module:Class`` path."""
    overrides = {"profile": profile} if profile else {}
    device = create_device(spec, allow_import=allow_import, **overrides)
    return DeviceServer(device, faults=LinkFaults.parse(faults) if faults else None, baud=baud,
                        max_payload=max_payload, spin_s=spin_s, secret=secret)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str]) -> int:
    """Parse the options, print the port, serve until Ctrl-C or SIGTERM."""
    p = argparse.ArgumentParser(prog="hwsim serve", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("device", help="device spec, e.g. 'reference?seed=3' or 'optical' (see 'hwsim devices')")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--pty", action="store_true", help="serve on a new pseudo-terminal")
    where.add_argument("--tcp", type=int, metavar="PORT", help="serve on a TCP port (0: any free port)")
    p.add_argument("--host", default="127.0.0.1", help="address for --tcp (default 127.0.0.1)")
    p.add_argument("--link", metavar="PATH", help="for --pty: the stable path to create (default: a temp folder)")
    p.add_argument("--profile", help="non-ideality profile applied to the device (ideal, bench, harsh)")
    p.add_argument("--faults", metavar="SPEC",
                   help="link faults, e.g. 'flip=0.05,drop=0.01,truncate=0.01,unplug_at=500,replug_s=0.5,seed=1'")
    p.add_argument("--baud", type=float, help="pace the link like a UART at this baud rate (8N1)")
    p.add_argument("--max-payload", type=int, default=65536, help="largest message body in bytes (default 65536)")
    p.add_argument("--spin-us", type=float, default=SPIN_US,
                   help=f"after each reply, poll the line this many microseconds before sleeping, as a firmware "
                        f"main loop would (default {SPIN_US:g}; 0 never polls and saves CPU between requests)")
    p.add_argument("--idle-timeout", type=float, default=DEFAULT_IDLE_TIMEOUT_S, metavar="S",
                   help=f"for --tcp: drop a host silent for S seconds so others can connect (default "
                        f"{DEFAULT_IDLE_TIMEOUT_S:g}; 0: never)")
    p.add_argument("--secret-file", metavar="PATH",
                   help="demand an HMAC-SHA256 handshake with the shared secret in PATH (mode 600); default: the "
                        "file named by HWSIM_SECRET_FILE, if set")
    p.add_argument("--allow-import", action="store_true",
                   help="let the device spec be a 'module:Class' path (imports and runs that module)")
    args = p.parse_args(argv)
    if args.idle_timeout < 0:
        raise ConfigError(f"--idle-timeout must be >= 0 seconds, got {args.idle_timeout:g}")

    secret = load_secret(args.secret_file) if args.secret_file else secret_from_env()
    server = build_server(args.device, args.profile, args.faults, args.baud, args.max_payload, args.spin_us * 1e-6,
                          secret=secret, allow_import=args.allow_import)
    if args.tcp is not None:
        url = server.serve_tcp(args.host, args.tcp, idle_timeout_s=args.idle_timeout or None)
    else:
        url = server.serve_pty(args.link)
    print(url, flush=True)
    info = server.info
    pacing = f", paced at {args.baud:g} baud" if args.baud else ""
    auth = ", shared secret required" if secret is not None else ""
    print(f"hwsim serve: '{info.name}' (serial {info.serial_number}, schema {info.schema_hash()}) on {url}"
          f"{pacing}{auth}; Ctrl-C to stop", file=sys.stderr, flush=True)
    if server.unenforced_limits:
        print(f"hwsim serve: limits {server.unenforced_limits} are declared but not enforced by this server",
              file=sys.stderr)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        while server.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
