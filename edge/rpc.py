"""Run and time an artifact on a board through TVM RPC.

On the board: ``hwsim edge rpc-server --host 0.0.0.0 --port 9090`` (optionally registered with a
tracker: ``--tracker host:port --key jetson``). On the workstation: ``hwsim edge bench DIR --rpc
board:9090`` or ``--rpc tracker://tracker:9190/jetson``. The artifact's library and weights are uploaded,
loaded by the board's TVM runtime, run there, and timed there with TVM's time evaluator.
"""

from __future__ import annotations

import gc
import os
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edge.artifact import read_manifest, spec_from_manifest
from edge.errors import InputMismatchError, RemoteError
from edge.specs import TensorSpec
from edge.tensors import flatten_outputs, to_tvm
from edge.tracker import parse_host_port
from hwsim.errors import ConfigError

_ADDR = re.compile(r"^(?:(?P<scheme>tracker)://)?(?P<host>[^:/]+):(?P<port>\d+)(?:/(?P<key>[\w.-]+))?$")


def parse_address(address: str) -> tuple[str, str, int, str | None]:
    """``host:port`` -> ("server", host, port, None); ``tracker://host:port/key`` -> ("tracker", ...)."""
    m = _ADDR.match(address.strip())
    if not m or (m.group("scheme") and not m.group("key")):
        raise ConfigError(f"RPC address '{address}' must be host:port (a server) or tracker://host:port/key")
    return ("tracker" if m.group("scheme") else "server"), m.group("host"), int(m.group("port")), m.group("key")


def connect(address: str, timeout: float = 30.0) -> Any:
    """An RPC session to a server or, through a tracker, to a board registered under a key."""
    from tvm import rpc

    kind, host, port, key = parse_address(address)
    try:
        if kind == "tracker":
            return rpc.connect_tracker(host, port).request(key, session_timeout=0)
        return rpc.connect(host, port, session_timeout=0)
    except Exception as exc:  # noqa: BLE001 - TVM raises TVMError/RuntimeError/OSError
        raise RemoteError(f"cannot reach the TVM RPC {kind} at {host}:{port}: {exc}. Is "
                          "'hwsim edge rpc-server' running there and the port open?") from exc


def start_server(host: str = "127.0.0.1", port: int = 9090, port_end: int | None = None,
                 tracker: str | None = None, key: str = "", custom_addr: str | None = None) -> Any:
    """Start a TVM RPC server in a child process; returns it (``.port``, ``.terminate()``). With
    ``tracker`` (``host:port``) it registers there under ``key`` as ``tvm.exec.rpc_server`` does,
    announcing ``custom_addr`` instead of its own address when given."""
    from tvm import rpc

    tracker_addr = parse_host_port(tracker) if tracker else None
    return rpc.Server(host=host, port=port, port_end=port_end or port + 100, tracker_addr=tracker_addr,
                      key=key, custom_addr=custom_addr, silent=True)


class RemoteModel:
    """An artifact loaded on a board over RPC: call it on numpy arrays, or :meth:`time` it there."""

    def __init__(self, session: Any, directory: str | os.PathLike):
        from tvm import relax

        directory = Path(directory)
        self.manifest = read_manifest(directory)
        self.spec = spec_from_manifest(self.manifest)
        self.inputs = [TensorSpec.from_json(s) for s in self.manifest["inputs"]]
        self.session = session
        lib_name = self.manifest["files"]["library"]
        remote_name = f"hwsim_{self.manifest.get('library_sha256', 'model')[:12]}_{lib_name}"
        try:
            session.upload(str(directory / lib_name), remote_name)
            lib = session.load_module(remote_name)
        except Exception as exc:  # noqa: BLE001
            raise RemoteError(f"the board could not load {lib_name}: {exc}. Was the artifact built for "
                              f"this board ('{self.spec.name}')?") from exc
        self.device = session.cuda(0) if self.spec.is_cuda else session.cpu(0)
        self.vm = relax.VirtualMachine(lib, self.device)
        with np.load(directory / self.manifest["files"]["params"]) as data:
            self.weights = [self._put(data[k]) for k in sorted(data.files)]

    def close(self) -> None:
        """End the session (a TVM RPC server serves one session at a time)."""
        self.vm = self.weights = self.session = self.device = None  # type: ignore[assignment]
        gc.collect()

    def __enter__(self) -> RemoteModel:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _put(self, array: np.ndarray) -> Any:
        return to_tvm(array, self.device)  # a remote device: always a copy sent to the board

    def _args(self, arrays: Sequence[np.ndarray]) -> list[Any]:
        if len(arrays) != len(self.inputs):
            raise InputMismatchError(f"the model takes {len(self.inputs)} inputs, got {len(arrays)}")
        out = []
        for spec, a in zip(self.inputs, arrays):
            a = np.asarray(a)
            if str(a.dtype) != spec.dtype or not spec.matches(a.shape):
                raise InputMismatchError(f"input '{spec.name}' must be {spec.dtype} {spec.to_json()['shape']}, "
                                         f"got {a.dtype} {list(a.shape)}")
            spec.check_value(a)
            if spec.value is None:
                out.append(self._put(a))
        return out

    def __call__(self, *arrays: np.ndarray) -> np.ndarray | tuple[np.ndarray, ...]:
        """Run on the board; outputs fetched back as numpy arrays."""
        # the stateful VM API: a function returning a tuple cannot hand it back over RPC directly
        self.vm.set_input("main", *self._args(arrays), *self.weights)
        self.vm.invoke_stateful("main")
        outs = flatten_outputs(self.vm.get_outputs("main"))
        return outs[0] if len(outs) == 1 else tuple(outs)

    def time(self, arrays: Sequence[np.ndarray], repeat: int = 50, number: int = 1) -> list[float]:
        """Seconds per run, one value per repeat (each the mean of ``number`` runs), measured on the board."""
        self.vm.set_input("main", *self._args(arrays), *self.weights)
        evaluator = self.vm.time_evaluator("invoke_stateful", self.device, number=number, repeat=repeat)
        return [float(t) for t in evaluator("main").results]
