"""The learning-curve picture of a PPO run: the test-protocol metric against environment steps, with
the baselines scored on the same protocol as horizontal lines."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence


def plot_learning_curve(lines: Sequence[dict[str, Any]], metric: str, references: dict[str, float], path: Path,
                        title: str = "", higher_is_better: bool = True) -> Path | None:
    """Write ``metric`` of the logged ``lines`` (each with ``step``) against environment steps to
    ``path`` (PNG), with one dashed line per reference; ``None`` when nothing was logged."""
    points = [(line["step"], line[metric]) for line in lines if metric in line and "step" in line]
    if not points:
        return None
    # a Figure on its own Agg canvas: no pyplot, so the process's matplotlib backend is left alone
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.0))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    steps, values = zip(*points)
    ax.plot(steps, values, marker="." if len(points) < 60 else None, color="black", label="PPO (deterministic)")
    for k, (name, value) in enumerate(sorted(references.items(), key=lambda kv: kv[1], reverse=higher_is_better)):
        ax.axhline(value, linestyle="--", color=f"C{k}", label=f"{name} {value:.3f}")
    ax.set_xlabel("environment steps")
    ax.set_ylabel(metric + (" (higher is better)" if higher_is_better else " (lower is better)"))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    return path
