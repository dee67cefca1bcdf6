"""A farm of boards behind TVM's RPC tracker: tuning candidates measured on every free board of a key.

The boards run ``hwsim edge rpc-server --tracker HOST:PORT --key KEY`` (TVM's own ``python -m
tvm.exec.rpc_server --tracker HOST:PORT --key KEY`` works the same), the tracker runs anywhere
(``python -m tvm.exec.rpc_tracker --host 0.0.0.0 --port 9190``). ``hwsim edge compile --tune N
--tracker HOST:PORT --key KEY`` then tunes with MetaSchedule's ``RPCRunner``: one measuring worker per
board registered under the key, each asking the tracker for a free board per candidate, so the boards
measure in parallel; ``hwsim edge bench --tracker HOST:PORT --key KEY`` times an artifact on whichever
board the tracker hands out. :class:`FarmMonitor` polls the tracker during a tuning and reports how many
boards were busy at once.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from edge.errors import RemoteError
from hwsim.errors import ConfigError


def parse_host_port(text: str, what: str = "tracker") -> tuple[str, int]:
    """``"host:port"`` -> ``(host, port)``; a :class:`ConfigError` saying the form otherwise."""
    host, _, port = str(text).strip().rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{what} address '{text}' must be host:port, e.g. 192.168.1.10:9190")
    return host, int(port)


@dataclass(frozen=True)
class BoardFarm:
    """The boards registered under ``key`` at the TVM RPC tracker ``host:port``."""

    host: str
    port: int
    key: str

    @classmethod
    def parse(cls, tracker: str, key: str | None) -> BoardFarm:
        """The farm of ``--tracker HOST:PORT --key KEY``."""
        if not key:
            raise ConfigError("--tracker needs --key: the key the boards registered under "
                              "(hwsim edge rpc-server --tracker HOST:PORT --key KEY)")
        host, port = parse_host_port(tracker)
        return cls(host, port, key)

    @property
    def address(self) -> str:
        """The ``tracker://host:port/key`` address :func:`edge.rpc.connect` takes."""
        return f"tracker://{self.host}:{self.port}/{self.key}"

    def summary(self) -> dict[str, Any]:
        """The tracker's own summary (``queue_info`` per key, ``server_info`` per registered server)."""
        from tvm import rpc

        try:
            return rpc.connect_tracker(self.host, self.port).summary()
        except Exception as exc:  # noqa: BLE001 - TVM raises RuntimeError/TVMError/OSError
            raise RemoteError(f"cannot reach the TVM RPC tracker at {self.host}:{self.port}: {exc}. Start it with "
                              "'python -m tvm.exec.rpc_tracker --host 0.0.0.0 --port 9190'") from exc

    def status(self) -> dict[str, int]:
        """``{"boards": registered under the key, "free": of them idle, "pending": requests waiting}``."""
        summary = self.summary()
        boards = sum(1 for s in summary.get("server_info", []) if s.get("key") == f"server:{self.key}")
        queue = summary.get("queue_info", {}).get(self.key, {})
        return {"boards": boards, "free": int(queue.get("free", 0)), "pending": int(queue.get("pending", 0))}

    def require_boards(self) -> int:
        """The number of boards under the key; a :class:`RemoteError` when there is none."""
        boards = self.status()["boards"]
        if boards == 0:
            raise RemoteError(f"no board is registered under key '{self.key}' at the tracker {self.host}:{self.port}; "
                              f"start 'hwsim edge rpc-server --tracker {self.host}:{self.port} --key {self.key}' "
                              "on each board")
        return boards

    def runner(self, evaluator_config: Any, initializer: Callable[[], None] | None = None,
               session_timeout_s: float = 120.0) -> Any:
        """MetaSchedule's ``RPCRunner`` measuring on this farm: one worker per board under the key."""
        from tvm.s_tir import meta_schedule as ms

        config = ms.runner.RPCConfig(tracker_host=self.host, tracker_port=self.port, tracker_key=self.key,
                                     session_priority=1, session_timeout_sec=int(session_timeout_s))
        return ms.runner.RPCRunner(rpc_config=config, evaluator_config=evaluator_config,
                                   max_workers=self.require_boards(), initializer=initializer)

    def monitor(self, interval_s: float = 0.05) -> FarmMonitor:
        """A started :class:`FarmMonitor` of this farm."""
        return FarmMonitor(self, interval_s)


class FarmMonitor:
    """Polls the tracker in a background thread and keeps the most boards seen busy at once."""

    def __init__(self, farm: BoardFarm, interval_s: float = 0.05) -> None:
        self.farm = farm
        self.interval_s = interval_s
        self.boards = 0
        self.peak_busy = 0
        self.polls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="hwsim-farm-monitor", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                status = self.farm.status()
            except RemoteError:
                status = None
            if status is not None:
                self.polls += 1
                self.boards = max(self.boards, status["boards"])
                self.peak_busy = max(self.peak_busy, status["boards"] - status["free"])
            self._stop.wait(self.interval_s)

    def stop(self) -> dict[str, Any]:
        """Stop polling; ``{tracker, key, boards, peak_busy, polls}``."""
        self._stop.set()
        self._thread.join(timeout=5.0)
        return {"tracker": f"{self.farm.host}:{self.farm.port}", "key": self.farm.key, "boards": self.boards,
                "peak_busy": self.peak_busy, "polls": self.polls}


def wait_for_boards(farm: BoardFarm, boards: int, timeout_s: float = 60.0) -> None:
    """Wait until ``boards`` boards are registered and free under the farm's key (after starting them)."""
    end = time.monotonic() + timeout_s
    while True:
        try:
            status = farm.status()
            if status["boards"] >= boards and status["free"] >= boards:
                return
        except RemoteError:
            pass
        if time.monotonic() > end:
            raise RemoteError(f"{boards} boards did not register under '{farm.key}' at {farm.host}:{farm.port} "
                              f"within {timeout_s:.0f} s")
        time.sleep(0.2)
