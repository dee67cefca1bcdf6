"""UART line-time pacing of the simulated board (on a fake clock)."""

from __future__ import annotations

import pytest

from hwsim.protocol.pacing import LinePacer, line_seconds


class FakeTime:
    """A clock that only moves when the pacer sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s


def test_line_pacer_charges_ten_bits_per_byte_each_way() -> None:
    t = FakeTime()
    pacer = LinePacer(10_000, slice_s=0.02, sleep=t.sleep, clock=lambda: t.now)
    assert line_seconds(1000, 10_000) == pytest.approx(1.0)
    arrived = pacer.arrival(100)  # 100 bytes at 1 ms each
    assert arrived == pytest.approx(100.1) and t.sleeps == []
    writes: list[tuple[float, bytes]] = []
    pacer.send(b"x" * 45, lambda b: writes.append((t.now, b)), not_before=arrived + 0.005)
    # slices of 20 bytes (20 ms of line), each released when its last byte would have arrived
    assert [len(b) for _, b in writes] == [20, 20, 5]
    assert [w for w, _ in writes] == pytest.approx([100.125, 100.145, 100.150])
    # the next reply queues behind the first on the line; the next request arrives after the first
    pacer.send(b"y" * 5, lambda b: writes.append((t.now, b)))
    assert writes[-1][0] == pytest.approx(100.155)
    assert pacer.arrival(10) == pytest.approx(max(100.1, t.now) + 0.01)
