"""Adaptive bitrate streaming as a gymnasium environment (Pensieve simulator, NetLLM test protocol)."""

from __future__ import annotations

import random
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from agents.abr_sim import (BITRATES_KBPS, LINK_RTT_MS, NOISE_HIGH, NOISE_LOW, TOTAL_CHUNKS, ABRSimulator,
                            qoe_lin)
from agents.traces import BITRATE_LEVELS, load_trace_set, load_video_sizes
from hwsim.errors import ConfigError

BUFFER_NORM_S = 10.0
INFO_KEYS = ("quality", "bitrate_kbps", "rebuffer_s", "buffer_s", "delay_ms", "sleep_ms", "chunk_bytes",
             "throughput_mbps", "qoe", "chunk_index", "chunks_remaining", "trace_index")
MAX_DELAY_OBS = 1000.0  # row 3 is clipped here (a 10,000 s chunk download), so the space is bounded


class ABREnv(gym.Env):
    """Stream a 48-chunk video (4 s chunks, 6 bitrates) over a real network trace.

    **Episode.** ``reset`` downloads chunk 0 at ``start_quality`` (no decision is made for it, and
    its QoE is not a reward: NetLLM's protocol drops the first chunk). Each ``step`` downloads
    the next chunk at the chosen bitrate; the episode terminates after the 48th chunk, so an
    episode has 47 steps and its return divided by 47 is the mean QoE per chunk.

    **Observation** (``Box``, float32, shape ``(6, history_len)``): the Pensieve state. Rows hold
    the last ``history_len`` chunks, oldest first: 0 last bitrate / 4300 kbps, 1 buffer / 10 s,
    2 throughput of the chunk (MB/s = bytes per ms / 1000), 3 download time / 10 s (clipped at 1000);
    row 4 holds the sizes (MB) of the next chunk at the 6 bitrates in its first 6 columns;
    row 5 holds the chunks left / 48.

    **Action** (``Discrete(6)``): the bitrate level of the next chunk, 0 = 300 kbps ... 5 = 4300 kbps.

    **Reward**: QoE_lin of the downloaded chunk, bitrate (Mbit/s) - 4.3 x rebuffering (s) -
    |bitrate change| (Mbit/s).

    **Info** (every reset and step): ``quality``, ``bitrate_kbps``, ``rebuffer_s``, ``buffer_s``,
    ``delay_ms``, ``sleep_ms``, ``chunk_bytes``, ``throughput_mbps``, ``qoe`` (of the chunk just
    downloaded), ``chunk_index`` (index of the next chunk), ``chunks_remaining``, ``trace_index``
    and ``video_sizes`` (chunk sizes in bytes, ``video_sizes[level][chunk]``, an immutable tuple).

    **Trace protocol.** ``train=True``: each episode picks a random trace and a random start row,
    and the download time gets 0.9-1.1 noise (``delay_noise``). ``train=False``: episodes walk the
    traces in file order from their fixed start rows (``fcc-test``: NetLLM's; otherwise row 1),
    with no noise; seeding a reset restarts the walk at trace 0. ``reset(options={"trace_index": i})``
    plays trace ``i`` in either mode.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, trace_set: str = "hsdpa-train", train: bool = True, delay_noise: bool | None = None,
                 history_len: int = 8, start_quality: int = 0) -> None:
        if history_len < BITRATE_LEVELS:
            raise ConfigError(f"history_len must be >= {BITRATE_LEVELS} (row 4 holds the next chunk's "
                              f"{BITRATE_LEVELS} sizes); got {history_len}")
        if not 0 <= start_quality < BITRATE_LEVELS:
            raise ConfigError(f"start_quality must be a bitrate level 0..{BITRATE_LEVELS - 1}; got {start_quality}")
        self.traces = load_trace_set(trace_set)
        self.trace_set = trace_set
        self.train = bool(train)
        self.delay_noise = self.train if delay_noise is None else bool(delay_noise)
        self.history_len = int(history_len)
        self.start_quality = int(start_quality)
        sizes = load_video_sizes()
        self.sim = ABRSimulator(sizes, TOTAL_CHUNKS)
        self.video_sizes = self.sim.sizes
        self._next_mb = [np.array([sizes[q][min(c, len(sizes[0]) - 1)] / 1e6 for q in range(BITRATE_LEVELS)],
                                  dtype=np.float32) for c in range(TOTAL_CHUNKS + 1)]
        self._max_kbps = float(max(BITRATES_KBPS))

        max_mb = max(max(level) for level in sizes) / 1e6
        high = np.empty((6, self.history_len), dtype=np.float32)
        high[0], high[1], high[5] = 1.0, 60.0 / BUFFER_NORM_S, 1.0
        high[2] = max_mb * 1000.0 / (LINK_RTT_MS * NOISE_LOW)  # MB/s: no chunk arrives faster than one RTT
        high[3] = MAX_DELAY_OBS
        high[4] = max_mb
        self.observation_space = spaces.Box(0.0, high, dtype=np.float32)
        self.action_space = spaces.Discrete(BITRATE_LEVELS)

        self._state = np.zeros((6, self.history_len), dtype=np.float32)
        self._rng = random.Random(0)
        self._seeded = False
        self._cursor = 0
        self.trace_index = 0
        self._last_kbps = 0.0
        self.fields: tuple = ()

    @property
    def trace_name(self) -> str:
        """File name of the trace being played."""
        return self.traces.traces[self.trace_index].name

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a video on the next trace (drawn by the seed, or the next in order for test protocols)."""
        super().reset(seed=seed)
        if seed is not None or not self._seeded:
            self._rng = random.Random(int(self.np_random.integers(2**63)))
            self._seeded = True
            self._cursor = 0
        count = len(self.traces)
        if options and "trace_index" in options:
            index = int(options["trace_index"])
            if not 0 <= index < count:
                raise ConfigError(f"trace_index {index} is outside 0..{count - 1} of trace set '{self.trace_set}'")
        elif self.train:
            index = int(self.np_random.integers(count))
        else:
            index = self._cursor % count
            self._cursor += 1
        trace = self.traces.traces[index]
        if self.train:
            start = int(self.np_random.integers(1, len(trace.times)))
        else:
            start = self.traces.start_rows[index] if self.traces.start_rows else 1
        self.trace_index = index
        self.sim.start(trace, start)
        self._state.fill(0.0)
        self._last_kbps = float(BITRATES_KBPS[self.start_quality])
        self.advance(self.start_quality)
        return self._state.copy(), self.info()

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Download the next chunk at bitrate index ``action``."""
        quality = int(action)
        if not 0 <= quality < BITRATE_LEVELS:
            raise ConfigError(f"ABR action must be a bitrate level 0..{BITRATE_LEVELS - 1}; got {action!r}")
        qoe = self.advance(quality)
        return self._state.copy(), qoe, self.sim.chunk >= TOTAL_CHUNKS, False, self.info()

    def info(self) -> dict[str, Any]:
        """The info dict of the chunk just downloaded."""
        info = dict(zip(INFO_KEYS, self.fields))
        info["video_sizes"] = self.video_sizes
        return info

    def advance(self, quality: int) -> float:
        """Download one chunk at ``quality``, roll the Pensieve state (``self.state``) and set
        ``self.fields`` (the values of ``INFO_KEYS``); returns the chunk's QoE."""
        noise = self._rng.uniform(NOISE_LOW, NOISE_HIGH) if self.delay_noise else 1.0
        sim = self.sim
        delay_ms, sleep_ms, rebuffer_ms, size = sim.download(quality, noise)
        kbps = float(BITRATES_KBPS[quality])
        rebuffer_s = rebuffer_ms / 1000.0
        qoe = qoe_lin(kbps, self._last_kbps, rebuffer_s)
        self._last_kbps = kbps
        buffer_s = sim.buffer_ms / 1000.0
        left = TOTAL_CHUNKS - sim.chunk

        state = self._state
        state[:, :-1] = state[:, 1:]
        state[0, -1] = kbps / self._max_kbps
        state[1, -1] = buffer_s / BUFFER_NORM_S
        state[2, -1] = size / delay_ms / 1000.0
        state[3, -1] = min(delay_ms / 1000.0 / BUFFER_NORM_S, MAX_DELAY_OBS)
        state[4, :BITRATE_LEVELS] = self._next_mb[sim.chunk]
        state[5, -1] = left / TOTAL_CHUNKS
        self.fields = (quality, kbps, rebuffer_s, buffer_s, delay_ms, sleep_ms, size, size * 8.0 / delay_ms / 1000.0,
                       qoe, sim.chunk, left, self.trace_index)
        return qoe

    @property
    def state(self) -> np.ndarray:
        """The current observation buffer (not a copy; vector environments read it)."""
        return self._state
