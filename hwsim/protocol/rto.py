"""The host's retransmission timer: how long to wait for a reply's first byte before resending.

Jacobson/Karels estimation as in TCP (RFC 6298): a smoothed round trip ``srtt`` and its variation
``rttvar`` from replies that came on the first try only (Karn's rule: a reply after a resend could
answer either copy), a wait of ``srtt + max(G, 4 * rttvar)`` clamped to ``[min_s, cap_s]``, doubled on
each resend within a request, and the doubled value kept after a request that needed resends until
a first-try reply gives a new estimate. ``cap_s`` is the user's ``timeout``: the wait never exceeds it,
so the request budget stated in terms of ``timeout`` holds; before any reply the wait is ``cap_s``.
With ``adaptive=False`` every wait is ``cap_s``.
"""

from __future__ import annotations

GRANULARITY_S = 0.01


class RetransmitTimer:
    """First-byte waits for a request's tries (see the module docstring)."""

    def __init__(self, cap_s: float, min_s: float = 0.1, adaptive: bool = True) -> None:
        self.cap_s = float(cap_s)
        self.min_s = min(float(min_s), self.cap_s)
        self.adaptive = adaptive
        self.srtt: float | None = None
        self.rttvar = 0.0
        self.rto = self.cap_s

    def wait(self, attempt: int) -> float:
        """Seconds to wait for the first byte on try ``attempt`` (0: the first transmission)."""
        if not self.adaptive:
            return self.cap_s
        return min(self.cap_s, self.rto * (2 ** min(attempt, 30)))

    def replied(self, attempt: int, first_byte_s: float | None) -> None:
        """A request got its reply on try ``attempt``; ``first_byte_s``: how long its first byte took."""
        if not self.adaptive:
            return
        if attempt > 0:  # Karn: no sample; keep the backed-off wait for the next request
            self.rto = self.wait(attempt)
            return
        if first_byte_s is None:
            return
        r = max(0.0, float(first_byte_s))
        if self.srtt is None:
            self.srtt, self.rttvar = r, r / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - r)
            self.srtt = 0.875 * self.srtt + 0.125 * r
        self.rto = min(self.cap_s, max(self.min_s, self.srtt + max(GRANULARITY_S, 4 * self.rttvar)))
