"""Seeded link faults a device server injects: bit flips, dropped replies, truncated frames, unplug + replug."""

from __future__ import annotations

import random
from dataclasses import dataclass, field, fields

from hwsim.errors import ConfigError


@dataclass
class LinkFaults:
    """What goes wrong on the simulated cable, all drawn from one seeded generator.

    ``flip``: probability that a frame (each direction) has one bit flipped; ``drop``: probability
    that the board's reply is lost after the request was executed; ``truncate``: probability that a
    frame (each direction) is cut short; ``unplug_at``: the board disconnects on the first new
    (not RETRANSMIT) request from its ``unplug_at``-th received request on (counted from 1 over its
    lifetime), before executing it, and comes back ``replug_s`` seconds later rebooted (parameters
    at power-on values); ``replug_s=None`` never comes back. Incoming flips and truncations stay
    inside one frame; outgoing ones may hit the delimiter and merge a reply with the next one.

    The unplug falls between two exchanges on purpose: a board that executed a request, lost the
    reply and then rebooted has no reply cache left, so the host's resend is measured again; no
    protocol can avoid that duplicate, and this schedule does not produce it.
    """

    flip: float = 0.0
    drop: float = 0.0
    truncate: float = 0.0
    unplug_at: int | None = None
    replug_s: float | None = 0.5
    seed: int = 0
    rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("flip", "drop", "truncate"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ConfigError(f"fault probability {name}={p} must be between 0 and 1")
        if self.unplug_at is not None and self.unplug_at < 1:
            raise ConfigError(f"unplug_at={self.unplug_at} must be a request number >= 1")
        self.rng = random.Random(self.seed)
        self.counts = {"flip": 0, "drop": 0, "truncate": 0, "unplug": 0}

    @classmethod
    def parse(cls, text: str) -> LinkFaults:
        """Build from ``"flip=0.05,drop=0.01,truncate=0.01,unplug_at=500,replug_s=0.3,seed=1"``."""
        names = {f.name for f in fields(cls) if f.init}
        kwargs: dict[str, float | int | None] = {}
        for item in filter(None, (s.strip() for s in text.replace("&", ",").split(","))):
            key, sep, value = item.partition("=")
            key = key.strip()
            if not sep or key not in names:
                raise ConfigError(f"bad fault '{item}'; use key=value with keys {', '.join(sorted(names))}")
            try:
                if value.strip().lower() in ("none", "never"):
                    kwargs[key] = None
                elif key in ("unplug_at", "seed"):
                    kwargs[key] = int(value)
                else:
                    kwargs[key] = float(value)
            except ValueError as exc:
                raise ConfigError(f"bad value in fault '{item}': {exc}") from exc
        return cls(**kwargs)  # type: ignore[arg-type]

    def _flip(self, data: bytes, end: int) -> bytes:
        buf = bytearray(data)
        pos = self.rng.randrange(end)
        buf[pos] ^= 1 << self.rng.randrange(8)
        self.counts["flip"] += 1
        return bytes(buf)

    def incoming(self, frame: bytes) -> bytes:
        """A received frame (without its delimiter) as the line delivered it."""
        if frame and self.flip and self.rng.random() < self.flip:
            frame = self._flip(frame, len(frame))
        if len(frame) > 1 and self.truncate and self.rng.random() < self.truncate:
            frame = frame[:self.rng.randrange(1, len(frame))]
            self.counts["truncate"] += 1
        return frame

    def outgoing(self, wire: bytes) -> bytes:
        """Reply bytes (frame and delimiter) as they reach the host; empty when the reply is dropped."""
        if self.drop and self.rng.random() < self.drop:
            self.counts["drop"] += 1
            return b""
        if self.truncate and len(wire) > 2 and self.rng.random() < self.truncate:
            wire = wire[:self.rng.randrange(1, len(wire) - 1)] + b"\x00"
            self.counts["truncate"] += 1
        if self.flip and wire and self.rng.random() < self.flip:
            wire = self._flip(wire, len(wire))
        return wire

    def unplug_now(self, request_number: int, retransmit: bool) -> bool:
        """True when the board must disconnect on receiving request ``request_number`` (once per schedule)."""
        if (self.unplug_at is not None and request_number >= self.unplug_at and not retransmit
                and not self.counts["unplug"]):
            self.counts["unplug"] += 1
            return True
        return False
