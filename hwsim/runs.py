"""Run records: every training run writes ``runs/<name>/`` with a JSONL log, a checkpoint that
``--resume`` reads, the device handshake, a result file and a PNG plot of its curves."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Iterable, Mapping


def write_text_atomic(path: Path, text: str) -> None:
    """Replace ``path``'s content with ``text`` so that a crash leaves either the old or the new file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to a run log")


class RunRecord:
    """The folder of one run. ``resume=False`` starts a fresh log; ``resume=True`` keeps it."""

    def __init__(self, name: str, root: str | Path = "runs", resume: bool = False) -> None:
        self.dir = Path(root) / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.metrics_path = self.dir / "metrics.jsonl"
        self.checkpoint_path = self.dir / "checkpoint.pt"
        if not resume and self.metrics_path.exists():
            self.metrics_path.unlink()

    def write_json(self, filename: str, payload: Mapping[str, Any]) -> Path:
        """Write ``payload`` as pretty JSON into the run folder (atomically)."""
        path = self.dir / filename
        write_text_atomic(path, json.dumps(payload, indent=2, default=_jsonable) + "\n")
        return path

    def log(self, **metrics: Any) -> None:
        """Append one line of metrics (a ``time`` stamp is added)."""
        metrics.setdefault("time", round(time.time(), 3))
        with open(self.metrics_path, "a") as fh:
            fh.write(json.dumps(metrics, default=_jsonable) + "\n")

    def metrics(self) -> list[dict[str, Any]]:
        """Every logged line, in order."""
        if not self.metrics_path.exists():
            return []
        return [json.loads(line) for line in self.metrics_path.read_text().splitlines() if line.strip()]

    def truncate_after(self, key: str, value: float) -> None:
        """Drop logged lines whose ``key`` exceeds ``value`` (used when resuming from a checkpoint).

        The log is replaced atomically: a crash during the rewrite leaves the old log whole."""
        kept = [m for m in self.metrics() if m.get(key, -float("inf")) <= value]
        write_text_atomic(self.metrics_path, "".join(json.dumps(m, default=_jsonable) + "\n" for m in kept))

    def save_checkpoint(self, state: Mapping[str, Any]) -> Path:
        """Save ``state`` with ``torch.save`` atomically, so an interrupted save never corrupts a resume."""
        import torch

        tmp = self.checkpoint_path.with_suffix(".tmp")
        torch.save(dict(state), tmp)
        os.replace(tmp, self.checkpoint_path)
        return self.checkpoint_path

    def load_checkpoint(self) -> dict[str, Any] | None:
        """The last saved checkpoint, or ``None`` when there is none."""
        if not self.checkpoint_path.exists():
            return None
        import torch

        return torch.load(self.checkpoint_path, map_location="cpu", weights_only=False)

    def plot(self, x: str, ys: Iterable[str], filename: str = "curves.png", title: str = "") -> Path | None:
        """Plot logged metrics ``ys`` against ``x`` into a PNG; returns ``None`` if nothing was logged."""
        rows = self.metrics()
        ys = list(ys)
        if not rows:
            return None
        # a Figure on an Agg canvas: no pyplot, so the process's matplotlib backend is left alone
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6, 4))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        for y in ys:
            pts = [(r[x], r[y]) for r in rows if x in r and y in r and r[y] is not None]
            if pts:
                ax.plot(*zip(*pts), label=y, marker="." if len(pts) < 50 else None)
        ax.set_xlabel(x)
        ax.legend()
        ax.grid(alpha=0.3)
        ax.set_title(title or self.dir.name)
        fig.tight_layout()
        path = self.dir / filename
        fig.savefig(path, dpi=100)
        return path
