"""Helpers for the wire-protocol tests: boards served in a thread, the in-process twin, inputs."""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np
import pytest

from hwsim.device import Device
from hwsim.reference import ReferenceDevice
from hwsim.server import DeviceServer, in_process_twin


@pytest.fixture
def pty_board() -> Iterator[Callable[..., DeviceServer]]:
    """Factory: ``pty_board(device=None, **server_kwargs)`` serves on a pty in a thread; stopped afterwards."""
    servers: list[DeviceServer] = []

    def make(device: Device | None = None, **kwargs: object) -> DeviceServer:
        server = DeviceServer(device if device is not None else ReferenceDevice(seed=0), **kwargs)  # type: ignore[arg-type]
        server.serve_pty()
        servers.append(server)
        return server

    yield make
    for s in servers:
        s.stop()


def inputs(n: int, seed: int = 0, lo: float = -1.0, hi: float = 1.0, width: int = 16) -> np.ndarray:
    """``n`` random inputs for the reference device."""
    return np.random.default_rng(seed).uniform(lo, hi, (n, width)).astype(np.float32)


def twin(seed: int = 0, **kwargs: object) -> Device:
    """In-process reference device under the ideal profile (what a board serving it must return)."""
    return in_process_twin(ReferenceDevice(seed=seed, **kwargs))  # type: ignore[arg-type]
