"""Pictures of an ABR episode: a text table (``ansi``) and a plot of buffer and bitrate (``rgb_array``).

Both read the environment's per-chunk ``fields`` tuples (the values of
:data:`agents.abr.env.INFO_KEYS`, in that order).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from agents.abr.sim import BITRATES_KBPS


def render_ansi(history: Sequence[tuple], trace_name: str) -> str:
    """One line per downloaded chunk: bitrate, buffer, rebuffering, download time and QoE."""
    lines = [f"trace {trace_name}", "chunk  kbps  buffer_s  rebuffer_s  delay_ms     qoe"]
    for _, kbps, rebuffer_s, buffer_s, delay_ms, _, _, _, qoe, chunk, _, _ in history:
        lines.append(f"{chunk - 1:5d} {kbps:5.0f} {buffer_s:9.2f} {rebuffer_s:11.3f} {delay_ms:9.0f} {qoe:7.3f}")
    return "\n".join(lines) + "\n"


def render_rgb(history: Sequence[tuple], trace_name: str, size: tuple[float, float] = (6.4, 3.6),
               dpi: int = 80) -> np.ndarray:
    """The buffer level (s) and the chosen bitrate (kbps) against the chunk index, as an RGB array."""
    # a Figure on its own Agg canvas: no pyplot, so the process's matplotlib backend is left alone
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=dpi)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    chunks = [row[9] - 1 for row in history]
    ax.plot(chunks, [row[3] for row in history], color="tab:blue", label="buffer (s)")
    ax.set_xlabel("chunk")
    ax.set_ylabel("buffer (s)")
    ax.set_xlim(0, 48)
    ax.set_ylim(0, 62)
    twin = ax.twinx()
    twin.step(chunks, [row[1] for row in history], where="mid", color="tab:orange", label="bitrate (kbps)")
    twin.set_ylabel("bitrate (kbps)")
    twin.set_ylim(0, max(BITRATES_KBPS) * 1.05)
    ax.set_title(trace_name, fontsize=8)
    fig.tight_layout()
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
