"""Accuracy against cost: the curves of the paper's claim (model-free training needs fewer device rows and
less digital compute than hardware-aware training), read off the per-epoch history of runs.

A run's history (:attr:`physical.trainer.RunResult.history`) has one point per epoch: device rows of
training and twin data so far, digital FLOPs of training and twin fit so far, validation and test
accuracy of that epoch's weights. Over seeds, the curve is the mean at each epoch (seeds that stopped
early keep their last point). "Rows to reach ``a``": the rows spent when the test accuracy first
reaches ``a`` (per seed; the mean over the seeds that reach it, and how many do).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

# accuracies whose cost the bench reports, per data set
TARGETS: dict[str, tuple[float, ...]] = {"mnist1d": (0.40, 0.50, 0.60), "digits": (0.90, 0.95),
                                         "vowels7": (0.90, 0.95), "vowels12": (0.80, 0.90)}


def points(history: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The history entries that have a test accuracy, in order."""
    return [h for h in history if h.get("test_acc") is not None]


def mean_curve(histories: Sequence[Sequence[dict[str, Any]]]) -> list[dict[str, float]]:
    """Mean rows, FLOPs and test accuracy at each evaluated epoch over seeds (a seed that stopped early
    holds its last point)."""
    runs = [points(h) for h in histories]
    runs = [r for r in runs if r]
    if not runs:
        return []
    n = max(len(r) for r in runs)
    out = []
    for i in range(n):
        at = [r[min(i, len(r) - 1)] for r in runs]
        out.append({"epoch": i + 1, "rows": float(np.mean([p["rows"] for p in at])),
                    "flops": float(np.mean([p["flops"] for p in at])),
                    "test_acc": float(np.mean([p["test_acc"] for p in at]))})
    return out


def first_reach(history: Sequence[dict[str, Any]], target: float) -> dict[str, Any] | None:
    """The first evaluated epoch whose test accuracy is at least ``target`` (``None`` if none is)."""
    for p in points(history):
        if p["test_acc"] >= target - 1e-12:
            return p
    return None


def cost_to_reach(histories: Sequence[Sequence[dict[str, Any]]], target: float) -> dict[str, Any]:
    """Mean rows and FLOPs at which the seeds first reach ``target``, and how many of them do."""
    hits = [p for p in (first_reach(h, target) for h in histories) if p is not None]
    return {"target": target, "reached": len(hits), "seeds": len(histories),
            "rows": float(np.mean([p["rows"] for p in hits])) if hits else None,
            "flops": float(np.mean([p["flops"] for p in hits])) if hits else None}


def rows_at_accuracy(curve: Sequence[dict[str, float]], target: float) -> float | None:
    """Rows of the first point of a mean curve at or above ``target`` (``None`` if it never gets there)."""
    for p in curve:
        if p["test_acc"] >= target - 1e-12:
            return p["rows"]
    return None


def accuracy_at_rows(curve: Sequence[dict[str, float]], rows: float) -> float | None:
    """Test accuracy of the last point of a mean curve within ``rows`` device rows (``None``: none is)."""
    inside = [p["test_acc"] for p in curve if p["rows"] <= rows + 1e-9]
    return inside[-1] if inside else None


def plot_curves(curves: dict[str, list[dict[str, float]]], lines: dict[str, float],
                markers: dict[str, tuple[float, float]], path: str | Path, title: str) -> Path | None:
    """Test accuracy against device rows (log scale): one curve per method, ``markers`` as single points
    ``(rows, accuracy)`` (e.g. random features), ``lines`` as horizontal lines (peers without a device)."""
    if not any(curves.values()):
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for name, curve in curves.items():
        pts = [(p["rows"], p["test_acc"]) for p in curve if p["rows"] > 0]
        if pts:
            ax.plot(*zip(*pts), marker=".", label=name)
    for i, (name, (rows, acc)) in enumerate(markers.items()):
        ax.plot([rows], [acc], marker="*", ms=10, ls="", color=f"C{(i + len(curves)) % 10}", label=name)
    for i, (name, acc) in enumerate(lines.items()):
        ax.axhline(acc, ls="--", lw=1, color=f"C{(i + len(curves) + len(markers)) % 10}", label=f"{name} (no device)")
    ax.set_xscale("log")
    ax.set_xlabel("device rows (training + twin)")
    ax.set_ylabel("test accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
