"""Line-time pacing: make a fast transport behave like a UART at a given baud rate (8N1, 10 bits a byte)."""

from __future__ import annotations

import time
from typing import Callable

BITS_PER_BYTE = 10  # start bit, 8 data bits, stop bit


def line_seconds(n_bytes: int, baud: float) -> float:
    """Seconds ``n_bytes`` take on a UART line at ``baud`` with 8N1 framing."""
    return n_bytes * BITS_PER_BYTE / float(baud)


class LinePacer:
    """Times both directions of a link so each byte costs ``10 / baud`` seconds of line time.

    Received bytes count as sent by the host the moment they show up, so a request is complete only
    when its last byte would have crossed the line; a reply starts no earlier than that plus the
    board's processing time, and is released in slices, each when its last byte would have
    arrived. Directions are independent (full duplex). The board may compute while the request is
    still "on the line", so a paced exchange costs one sleep, not two.
    """

    def __init__(self, baud: float, slice_s: float = 0.002, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        if baud <= 0:
            raise ValueError(f"baud rate must be positive, got {baud}")
        self.baud = float(baud)
        self.slice_bytes = max(16, int(slice_s * self.baud / BITS_PER_BYTE))
        self._sleep = sleep
        self._clock = clock
        self._rx_end = 0.0
        self._tx_end = 0.0

    def _wait_until(self, t: float) -> None:
        delay = t - self._clock()
        if delay > 0:
            self._sleep(delay)

    def arrival(self, n_bytes: int) -> float:
        """Account for ``n_bytes`` just read; the clock time their last byte would arrive."""
        self._rx_end = max(self._rx_end, self._clock()) + line_seconds(n_bytes, self.baud)
        return self._rx_end

    def send(self, data: bytes, write: Callable[[bytes], None], not_before: float = 0.0) -> None:
        """Hand ``data`` to ``write`` in slices, starting on the line at ``not_before`` at the earliest."""
        start = max(self._tx_end, not_before, self._clock())
        sent = 0
        while sent < len(data):
            piece = data[sent:sent + self.slice_bytes]
            sent += len(piece)
            self._wait_until(start + line_seconds(sent, self.baud))
            write(piece)
        self._tx_end = start + line_seconds(len(data), self.baud)
