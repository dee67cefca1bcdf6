"""Adaptive bitrate streaming as a gymnasium environment (Pensieve simulator, NetLLM test protocol)."""

from __future__ import annotations

import random
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from agents.abr.render import render_ansi, render_rgb
from agents.abr.sim import (
    BITRATES_KBPS,
    BUFFER_CAP_MS,
    LINK_RTT_MS,
    NOISE_HIGH,
    NOISE_LOW,
    PAYLOAD_SHARE,
    TOTAL_CHUNKS,
    ABRSimulator,
    qoe_lin,
)
from agents.abr.traces import BITRATE_LEVELS, load_trace_set, load_video_sizes
from agents.envs.order import EpisodeOrder
from agents.envs.text import check_render_mode
from hwsim.errors import ConfigError

BUFFER_NORM_S = 10.0
INFO_KEYS = ("quality", "bitrate_kbps", "rebuffer_s", "buffer_s", "delay_ms", "sleep_ms", "chunk_bytes",
             "throughput_mbps", "qoe", "chunk_index", "chunks_remaining", "trace_index")
MAX_KBPS = float(max(BITRATES_KBPS))
BOUND_SLACK = 1.0 + 1e-6  # the bounds are exact; this covers the simulator's summation rounding


class ABREnv(gym.Env):
    """Stream a 48-chunk video (4 s chunks, 6 bitrates) over a real network trace.

    **Episode.** ``reset`` downloads chunk 0 at ``start_quality`` (no decision is made for it, and
    its QoE is not a reward: NetLLM's protocol drops the first chunk). Each ``step`` downloads
    the next chunk at the chosen bitrate; the episode terminates after the 48th chunk, so an
    episode has 47 steps and its return divided by 47 is the mean QoE per chunk.

    **Observation** (``Box``, float32, shape ``(6 x history_len,)``): the Pensieve state, flattened
    row by row (``obs.reshape(6, history_len)`` gives Pensieve's ``(6, history_len)`` array; 1-D so
    that off-the-shelf MLP policies and SB3's checker take it as it is). Rows hold
    the last ``history_len`` chunks, oldest first (zeros before the first chunk): 0 last bitrate /
    4300 kbps, 1 buffer / 10 s, 2 throughput of the chunk (MB/s = bytes per ms / 1000), 3 download
    time / 10 s; row 4 holds the sizes (MB) of the next chunk at the 6 bitrates in its first 6
    columns (Pensieve's layout, which leaves the other ``history_len - 6`` columns at 0; here they
    hold a look-ahead instead: the sizes of the chunks after the next one at the bitrate just chosen,
    0 past the end of the video); row 5 holds the chunks left / 48.
    The bounds are the real ones of the trace set: throughput below what the fastest row can deliver
    the largest chunk at (with the noise), download time below the longest delivery of the largest
    chunk from any point of any trace (:meth:`~agents.abr.traces.Trace.longest_delivery_s`),
    chunk sizes per bitrate below the largest chunk of that bitrate.

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

    **Rendering.** ``render_mode="ansi"``: one text line per chunk so far; ``"rgb_array"``: a plot of
    the buffer level and the chosen bitrate over the episode (an ``(H, W, 3)`` uint8 array).
    """

    metadata: dict[str, Any] = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(self, trace_set: str = "hsdpa-train", train: bool = True, delay_noise: bool | None = None,
                 history_len: int = 8, start_quality: int = 0, render_mode: str | None = None) -> None:
        if history_len < BITRATE_LEVELS:
            raise ConfigError(f"history_len must be >= {BITRATE_LEVELS} (row 4 holds the next chunk's "
                              f"{BITRATE_LEVELS} sizes); got {history_len}")
        if not 0 <= start_quality < BITRATE_LEVELS:
            raise ConfigError(f"start_quality must be a bitrate level 0..{BITRATE_LEVELS - 1}; got {start_quality}")
        self.render_mode = check_render_mode(render_mode, self.metadata["render_modes"])
        self.traces = load_trace_set(trace_set)
        self.trace_set = trace_set
        self.train = bool(train)
        self.delay_noise = self.train if delay_noise is None else bool(delay_noise)
        self.history_len = int(history_len)
        self.start_quality = int(start_quality)
        sizes = load_video_sizes()
        self.sim = ABRSimulator(sizes, TOTAL_CHUNKS)
        self.video_sizes = self.sim.sizes
        self.next_mb = np.array([[sizes[q][min(c, len(sizes[0]) - 1)] / 1e6 for q in range(BITRATE_LEVELS)]
                                 for c in range(TOTAL_CHUNKS + 1)], dtype=np.float32)
        ahead = self.history_len - BITRATE_LEVELS  # look-ahead[q, c] = sizes of chunks c+1.. at level q
        self.ahead_mb = np.array([[[sizes[q][c + k] / 1e6 if c + k < TOTAL_CHUNKS else 0.0 for k in range(1, ahead + 1)]
                                   for c in range(TOTAL_CHUNKS + 1)] for q in range(BITRATE_LEVELS)],
                                 dtype=np.float32).reshape(BITRATE_LEVELS, TOTAL_CHUNKS + 1, ahead)
        self.observation_space = spaces.Box(0.0, self._observation_high().reshape(-1), dtype=np.float32)
        self.action_space = spaces.Discrete(BITRATE_LEVELS)
        self.max_delay_obs = float(self.observation_space.high[3 * self.history_len])
        self.order = EpisodeOrder(len(self.traces), self.train, "trace_index", f"trace set '{trace_set}'")

        self._state = np.zeros((6, self.history_len), dtype=np.float32)
        self._rng = random.Random(0)
        self.trace_index = 0
        self._last_kbps = 0.0
        self.fields: tuple = ()
        self.history: list[tuple] = []  # the fields of every chunk of the episode (kept when rendering)

    def _observation_high(self) -> np.ndarray:
        largest = max(max(level) for level in self.video_sizes)
        noise_low, noise_high = (NOISE_LOW, NOISE_HIGH) if self.delay_noise else (1.0, 1.0)
        fastest_ms = (largest / (self.traces.max_bytes_per_s * PAYLOAD_SHARE) * 1000.0 + LINK_RTT_MS) * noise_low
        slowest_ms = (self.traces.longest_delivery_s(largest, PAYLOAD_SHARE) * 1000.0 + LINK_RTT_MS) * noise_high
        high = np.zeros((6, self.history_len), dtype=np.float64)
        high[0] = 1.0
        high[1] = BUFFER_CAP_MS / 1000.0 / BUFFER_NORM_S
        high[2] = largest / fastest_ms / 1000.0 * BOUND_SLACK
        high[3] = slowest_ms / 1000.0 / BUFFER_NORM_S * BOUND_SLACK
        high[4, :BITRATE_LEVELS] = self.next_mb.max(axis=0)
        high[4, BITRATE_LEVELS:] = largest / 1e6
        high[5] = (TOTAL_CHUNKS - 1) / TOTAL_CHUNKS
        return high.astype(np.float32)

    @property
    def trace_name(self) -> str:
        """File name of the trace being played."""
        return self.traces.traces[self.trace_index].name

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a video on the next trace (drawn by the seed, or the next in order for test protocols)."""
        super().reset(seed=seed)
        if seed is not None or not self.order.seeded:
            self._rng = random.Random(int(self.np_random.integers(2**63)))
        index = self.order.pick(self.np_random, seed, options)
        trace = self.traces.traces[index]
        if self.train:
            start = int(self.np_random.integers(1, len(trace.times)))
        else:
            start = self.traces.start_rows[index] if self.traces.start_rows else 1
        self.trace_index = index
        self.sim.start(trace, start)
        self._state.fill(0.0)
        self._last_kbps = float(BITRATES_KBPS[self.start_quality])
        self.history.clear()
        self.download(self.start_quality)
        self.push_observation(self._state)
        return self._state.reshape(-1).copy(), self.info()

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Download the next chunk at bitrate index ``action``."""
        quality = int(action)
        if not 0 <= quality < BITRATE_LEVELS:
            raise ConfigError(f"ABR action must be a bitrate level 0..{BITRATE_LEVELS - 1}; got {action!r}")
        qoe = self.download(quality)
        self.push_observation(self._state)
        return self._state.reshape(-1).copy(), qoe, self.sim.chunk >= TOTAL_CHUNKS, False, self.info()

    def info(self) -> dict[str, Any]:
        """The info dict of the chunk just downloaded."""
        info = dict(zip(INFO_KEYS, self.fields))
        info["video_sizes"] = self.video_sizes
        return info

    def download(self, quality: int) -> float:
        """Download one chunk at ``quality`` and set ``self.fields`` (the values of ``INFO_KEYS``);
        returns the chunk's QoE. The observation is not touched (:meth:`push_observation` does it)."""
        noise = self._rng.uniform(NOISE_LOW, NOISE_HIGH) if self.delay_noise else 1.0
        sim = self.sim
        delay_ms, sleep_ms, rebuffer_ms, size = sim.download(quality, noise)
        kbps = float(BITRATES_KBPS[quality])
        rebuffer_s = rebuffer_ms / 1000.0
        qoe = qoe_lin(kbps, self._last_kbps, rebuffer_s)
        self._last_kbps = kbps
        self.fields = (quality, kbps, rebuffer_s, sim.buffer_ms / 1000.0, delay_ms, sleep_ms, size,
                       size * 8.0 / delay_ms / 1000.0, qoe, sim.chunk, TOTAL_CHUNKS - sim.chunk, self.trace_index)
        if self.render_mode is not None:
            self.history.append(self.fields)
        return qoe

    def push_observation(self, state: np.ndarray) -> None:
        """Roll ``state`` (this environment's observation buffer) by the chunk just downloaded."""
        quality, kbps, _, buffer_s, delay_ms, _, size, _, _, chunk, left, _ = self.fields
        state[:, :-1] = state[:, 1:]
        state[0, -1] = kbps / MAX_KBPS
        state[1, -1] = buffer_s / BUFFER_NORM_S
        state[2, -1] = size / delay_ms / 1000.0
        state[3, -1] = min(delay_ms / 1000.0 / BUFFER_NORM_S, self.max_delay_obs)
        state[4, :BITRATE_LEVELS] = self.next_mb[chunk]
        state[4, BITRATE_LEVELS:] = self.ahead_mb[quality, chunk]
        state[5, -1] = left / TOTAL_CHUNKS

    @property
    def state(self) -> np.ndarray:
        """The current Pensieve state ``(6, history_len)`` (not a copy; the observation is it flattened)."""
        return self._state

    def render(self) -> str | np.ndarray | None:
        """The episode so far as text (``ansi``) or as a plot of buffer and bitrate (``rgb_array``)."""
        if self.render_mode == "ansi":
            return render_ansi(self.history, self.trace_name)
        if self.render_mode == "rgb_array":
            return render_rgb(self.history, self.trace_name)
        return None
