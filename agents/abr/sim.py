"""Pensieve's chunk-level video streaming simulator (``sim/env.py`` semantics), on one trace at a time.

A chunk is downloaded over the trace's delivery opportunities: each trace row delivers
``bandwidth x duration x 0.95`` bytes (packet payload share); the download time gets the 80 ms
link RTT and, in training, a uniform 0.9-1.1 multiplicative noise. The player buffer drains by the
download time (the shortfall is rebuffering), gains 4 s per chunk, and is capped at 60 s: above the
cap the player sleeps in 500 ms steps while the trace keeps running. The trace loops to row 1
when it ends. All state is plain Python floats so one chunk costs a few microseconds.
"""

from __future__ import annotations

import math
from typing import Sequence

from agents.abr.traces import Trace

BITRATES_KBPS = (300, 750, 1200, 1850, 2850, 4300)
CHUNK_MS = 4000.0
TOTAL_CHUNKS = 48
BUFFER_CAP_MS = 60000.0
DRAIN_STEP_MS = 500.0
LINK_RTT_MS = 80.0
PAYLOAD_SHARE = 0.95
NOISE_LOW, NOISE_HIGH = 0.9, 1.1
REBUFFER_PENALTY = 4.3  # QoE_lin: 1 s of rebuffering costs as much as 4.3 Mbit/s of bitrate
SMOOTH_PENALTY = 1.0


def qoe_lin(bitrate_kbps: float, last_bitrate_kbps: float, rebuffer_s: float) -> float:
    """QoE_lin of one chunk: bitrate (Mbit/s) - 4.3 x rebuffering (s) - |bitrate change| (Mbit/s)."""
    return (bitrate_kbps / 1000.0 - REBUFFER_PENALTY * rebuffer_s
            - SMOOTH_PENALTY * abs(bitrate_kbps - last_bitrate_kbps) / 1000.0)


class ABRSimulator:
    """Downloads chunks of one video over one trace, from a start row, and keeps the player buffer."""

    def __init__(self, video_sizes: Sequence[Sequence[int]], total_chunks: int = TOTAL_CHUNKS) -> None:
        self.sizes = tuple(tuple(int(b) for b in level) for level in video_sizes)
        self.total_chunks = int(total_chunks)
        self.times: tuple[float, ...] = ()
        self.bw: tuple[float, ...] = ()
        self.ptr = 1
        self.last_time = 0.0
        self.buffer_ms = 0.0
        self.chunk = 0

    def start(self, trace: Trace, start_row: int) -> None:
        """Begin a video at row ``start_row`` (>= 1) of ``trace`` with an empty buffer."""
        self.times, self.bw = trace.times, trace.bytes_per_s
        self.ptr = int(start_row)
        self.last_time = self.times[self.ptr - 1]
        self.buffer_ms = 0.0
        self.chunk = 0

    def download(self, quality: int, noise: float = 1.0) -> tuple[float, float, float, int]:
        """Fetch the next chunk at bitrate level ``quality``; returns ``(delay_ms, sleep_ms,
        rebuffer_ms, chunk_bytes)``. ``noise`` multiplies the download time (1.0 = none)."""
        size = self.sizes[quality][self.chunk]
        times, bw = self.times, self.bw
        n = len(times)
        ptr, last = self.ptr, self.last_time
        delay = 0.0  # s
        sent = 0.0  # bytes
        while True:
            rate = bw[ptr]
            duration = times[ptr] - last
            payload = rate * duration * PAYLOAD_SHARE
            if sent + payload > size:
                part = (size - sent) / rate / PAYLOAD_SHARE
                delay += part
                last += part
                break
            sent += payload
            delay += duration
            last = times[ptr]
            ptr += 1
            if ptr >= n:  # loop back to the start of the trace (time 0)
                ptr, last = 1, 0.0
        delay_ms = (delay * 1000.0 + LINK_RTT_MS) * noise

        buffer_ms = self.buffer_ms
        rebuffer_ms = delay_ms - buffer_ms if delay_ms > buffer_ms else 0.0
        buffer_ms = (buffer_ms - delay_ms if buffer_ms > delay_ms else 0.0) + CHUNK_MS

        sleep_ms = 0.0
        if buffer_ms > BUFFER_CAP_MS:  # player waits; the network trace keeps running
            sleep_ms = math.ceil((buffer_ms - BUFFER_CAP_MS) / DRAIN_STEP_MS) * DRAIN_STEP_MS
            buffer_ms -= sleep_ms
            left = sleep_ms / 1000.0
            while True:
                duration = times[ptr] - last
                if duration > left:
                    last += left
                    break
                left -= duration
                last = times[ptr]
                ptr += 1
                if ptr >= n:
                    ptr, last = 1, 0.0

        self.ptr, self.last_time, self.buffer_ms = ptr, last, buffer_ms
        self.chunk += 1
        return delay_ms, sleep_ms, rebuffer_ms, size

    @property
    def chunks_left(self) -> int:
        """Chunks of the video not yet downloaded."""
        return self.total_chunks - self.chunk

    @property
    def buffer_s(self) -> float:
        """Player buffer in seconds."""
        return self.buffer_ms / 1000.0
