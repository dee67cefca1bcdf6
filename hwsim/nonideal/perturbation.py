"""Perturbation events: sudden, persistent changes of the transfer function (a fibre knocked, an amplifier
re-biased, a cable moved), as Poisson events on the simulated clock, scheduled, or triggered by hand."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from hwsim.device import Device
from hwsim.errors import ConfigError, ShapeError
from hwsim.nonideal.base import NonIdealWrapper, check_nonneg, full_scale, rng_state, seeded_rng, set_rng_state
from hwsim.nonideal.clock import SimClock

#: Event kinds and what a value ``v`` (one per channel) does to the transfer function.
KINDS: dict[str, str] = {
    "output_gain": "output channel gain multiplied by (1 + v), one v per output channel",
    "input_gain": "input channel gain multiplied by (1 + v), one v per input channel",
    "input_offset": "input channel offset increased by v * input full scale, one v per input channel",
    "crosstalk": "coupling between neighbouring output channels c and c+1 set to v (replaces the old coupling)",
}

#: Default Poisson mixture: (kind, relative weight, std of the per-channel values drawn for an event).
DEFAULT_KINDS: tuple[tuple[str, float, float], ...] = (
    ("output_gain", 0.4, 0.05), ("input_gain", 0.2, 0.02), ("input_offset", 0.2, 0.01), ("crosstalk", 0.2, 0.02))


@dataclass(frozen=True)
class Event:
    """One perturbation: when (``time`` s of measurement time; it affects samples from global index
    ``sample`` on), what (``kind``), how big (``magnitude``: the scalar asked for, the std of randomly
    drawn values for Poisson and ``random=True`` events, or the RMS of an explicit array), where it came
    from (``source``: ``poisson``, ``scheduled`` or ``manual``), and the per-channel ``values`` applied."""

    time: float
    sample: int
    kind: str
    magnitude: float
    source: str
    values: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready fields."""
        d = asdict(self)
        d["values"] = list(self.values)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Event:
        """Rebuild from :meth:`to_dict`."""
        return cls(time=float(d["time"]), sample=int(d["sample"]), kind=str(d["kind"]),
                   magnitude=float(d["magnitude"]), source=str(d["source"]),
                   values=tuple(float(v) for v in d["values"]))


def _check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ConfigError(f"unknown perturbation kind '{kind}'; use one of: {', '.join(KINDS)}")
    return kind


class Perturbation(NonIdealWrapper):
    """Persistent jumps of input gain/offset, per-channel output gain and neighbour crosstalk.

    The effective transfer function is
    ``y' = out_gain * X(f(clip(in_gain * x + in_offset * FS_in)))`` where ``f`` is the wrapped device and
    ``X`` adds ``k_c * y_{c+1}`` to channel ``c`` and ``k_c * y_c`` to channel ``c + 1`` (crosstalk between
    neighbouring output channels, flattened order). The input is clipped to ``info.input_range`` (the
    drive amplifier saturates at its rails). A jump holds until the next one changes it.

    Events come from three sources, all on the simulated clock's measurement time:

    * Poisson events at ``rate`` per second, each of a kind drawn from ``kinds`` (``(kind, weight, scale)``
      triples) with per-channel values ``scale * N(0, 1)``;
    * :meth:`schedule` (or the ``schedule`` argument): at a given time;
    * :meth:`trigger`: now, before the next sample.

    An event that falls inside a batch takes effect from the first sample acquired at or after its time,
    so splitting a batch over calls never changes the result. Every event is appended to :attr:`events`.
    Manual and scheduled random jumps use their own RNG stream, so triggering one never changes the
    Poisson events that follow.
    """

    def __init__(self, inner: Device, rate: float = 0.0,
                 kinds: Sequence[tuple[str, float, float]] = DEFAULT_KINDS,
                 schedule: Sequence[tuple[float, str, Any]] = (), clock: SimClock | None = None,
                 seed: int = 0) -> None:
        super().__init__(inner)
        self.rate = check_nonneg("perturbation rate", rate, "events per second of measurement time")
        self.kinds = tuple((_check_kind(k), check_nonneg(f"weight of '{k}'", w), check_nonneg(f"scale of '{k}'", s))
                           for k, w, s in kinds)
        weights = np.array([w for _, w, _ in self.kinds], dtype=np.float64)
        if self.rate > 0 and (len(self.kinds) == 0 or weights.sum() <= 0):
            raise ConfigError("Poisson perturbations need at least one kind with a positive weight")
        self._p = weights / weights.sum() if weights.sum() > 0 else weights
        self.clock = clock if clock is not None else SimClock()
        self.seed = seed
        self.rng = seeded_rng(seed, "perturbation/poisson")
        self.rng_manual = seeded_rng(seed, "perturbation/manual")
        self.fs_in = full_scale(self.info.input_range)
        self._in_gain = np.ones(self.info.input_size)
        self._in_offset = np.zeros(self.info.input_size)
        self._out_gain = np.ones(self.info.output_size)
        self._crosstalk = np.zeros(max(self.info.output_size - 1, 0))
        self._next_poisson = self.clock.t + self._interarrival()
        self._pending: list[dict[str, Any]] = []
        self._events: list[Event] = []
        for time, kind, magnitude in schedule:
            self.schedule(time, kind, magnitude)

    # -- reading the state -----------------------------------------------------------------
    @property
    def events(self) -> list[Event]:
        """Every event so far, in the order it took effect."""
        return list(self._events)

    @property
    def output_gain(self) -> np.ndarray:
        """Current per-output-channel gain factor."""
        return self._out_gain.copy()

    @property
    def input_gain(self) -> np.ndarray:
        """Current per-input-channel gain factor."""
        return self._in_gain.copy()

    @property
    def input_offset(self) -> np.ndarray:
        """Current per-input-channel offset in input units."""
        return self._in_offset * self.fs_in

    @property
    def crosstalk(self) -> np.ndarray:
        """Current coupling between output channels ``c`` and ``c + 1``."""
        return self._crosstalk.copy()

    # -- causing events --------------------------------------------------------------------
    def trigger(self, kind: str, magnitude: Any, random: bool = False) -> Event:
        """Apply a jump now: it affects every sample measured from here on until the next jump.

        ``magnitude``: a scalar (the same value for every channel), an array with one value per channel
        (see :data:`KINDS`), or with ``random=True`` the std of values drawn per channel.
        """
        values = self._values(_check_kind(kind), magnitude, random)
        return self._apply(self.clock.t, self.clock.samples, kind, magnitude, values, "manual")

    def schedule(self, time: float, kind: str, magnitude: Any, random: bool = False) -> None:
        """Apply a jump at measurement time ``time`` (s), from the first sample acquired at or after it."""
        _check_kind(kind)
        if not random:
            self._values(kind, magnitude, False)  # reject a wrong shape now, not mid-run
        elif np.ndim(magnitude) != 0:
            raise ConfigError("random=True needs a scalar magnitude (the std of the drawn values)")
        entry = {"time": float(time), "kind": kind, "random": bool(random),
                 "magnitude": np.asarray(magnitude, dtype=np.float64).tolist()}
        self._pending.append(entry)
        self._pending.sort(key=lambda e: e["time"])  # stable: equal times keep the order they were asked in

    # -- internals -------------------------------------------------------------------------
    def _interarrival(self) -> float:
        return float(self.rng.exponential(1.0 / self.rate)) if self.rate > 0 else float("inf")

    def _size(self, kind: str) -> tuple[int, tuple[int, ...]]:
        info = self.info
        if kind in ("input_gain", "input_offset"):
            return info.input_size, tuple(info.input_shape)
        if kind == "output_gain":
            return info.output_size, tuple(info.output_shape)
        return len(self._crosstalk), (len(self._crosstalk),)

    def _values(self, kind: str, magnitude: Any, random: bool,
                rng: np.random.Generator | None = None) -> np.ndarray:
        size, shape = self._size(kind)
        if random:
            if np.ndim(magnitude) != 0:
                raise ConfigError("random=True needs a scalar magnitude (the std of the drawn values)")
            return (self.rng_manual if rng is None else rng).standard_normal(size) * float(magnitude)
        arr = np.asarray(magnitude, dtype=np.float64)
        if arr.ndim == 0:
            values = np.full(size, float(arr))
        elif arr.shape in ((size,), shape):
            values = arr.reshape(size).copy()
        else:
            raise ShapeError(f"'{kind}' magnitude has shape {arr.shape}; give a scalar or one value per channel "
                             f"(shape {shape})")
        if not np.all(np.isfinite(values)):
            raise ConfigError(f"'{kind}' magnitude must be finite")
        return values

    def _apply(self, time: float, sample: int, kind: str, magnitude: Any, values: np.ndarray,
               source: str) -> Event:
        if kind == "output_gain":
            self._out_gain = self._out_gain * (1.0 + values)
        elif kind == "input_gain":
            self._in_gain = self._in_gain * (1.0 + values)
        elif kind == "input_offset":
            self._in_offset = self._in_offset + values
        else:
            self._crosstalk = values.copy()
        mag = np.asarray(magnitude, dtype=np.float64)
        size = float(mag) if mag.ndim == 0 else float(np.sqrt(np.mean(mag ** 2))) if mag.size else 0.0
        event = Event(time=float(time), sample=int(sample), kind=kind, magnitude=size, source=source,
                      values=tuple(float(v) for v in values))
        self._events.append(event)
        return event

    def _params(self) -> tuple[np.ndarray, ...]:
        return self._in_gain, self._in_offset, self._out_gain, self._crosstalk

    def _segments(self, times: np.ndarray) -> list[tuple[int, int, tuple[np.ndarray, ...]]]:
        """Apply every event up to the last sample's time; return (start, end, params) runs of samples."""
        segments = []
        start = 0
        while True:
            t_sched = self._pending[0]["time"] if self._pending else float("inf")
            t_next = min(t_sched, self._next_poisson)
            if t_next > times[-1]:
                break
            idx = int(np.searchsorted(times, t_next, side="left"))
            if idx > start:
                segments.append((start, idx, self._params()))
                start = idx
            sample = self.clock.samples + idx
            if t_sched <= self._next_poisson:
                e = self._pending.pop(0)
                values = self._values(e["kind"], e["magnitude"], e["random"])
                self._apply(t_sched, sample, e["kind"], e["magnitude"], values, "scheduled")
            else:
                i = int(self.rng.choice(len(self.kinds), p=self._p))
                kind, _, scale = self.kinds[i]
                values = self._values(kind, scale, True, rng=self.rng)
                self._apply(self._next_poisson, sample, kind, scale, values, "poisson")
                self._next_poisson += self._interarrival()
        segments.append((start, len(times), self._params()))
        return segments

    def _measure(self, x: np.ndarray) -> np.ndarray:
        n = x.shape[0]
        lo, hi = self.info.input_range
        with self.clock.acquire(n) as times:
            segments = self._segments(times)
            xf = x.reshape(n, -1).astype(np.float64)
            for s, e, (in_gain, in_offset, _, _) in segments:
                xf[s:e] = np.clip(xf[s:e] * in_gain + in_offset * self.fs_in, lo, hi)
            y = self.inner.measure(xf.reshape(x.shape).astype(np.float32)).reshape(n, -1).astype(np.float64)
            for s, e, (_, _, out_gain, k) in segments:
                seg = y[s:e].copy()
                seg[:, 1:] += k * y[s:e, :-1]
                seg[:, :-1] += k * y[s:e, 1:]
                y[s:e] = out_gain * seg
        return y.reshape((n, *self.info.output_shape)).astype(np.float32)

    # -- state -----------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        nxt = self._next_poisson
        return {"rng": rng_state(self.rng), "rng_manual": rng_state(self.rng_manual),
                "in_gain": self._in_gain.tolist(), "in_offset": self._in_offset.tolist(),
                "out_gain": self._out_gain.tolist(), "crosstalk": self._crosstalk.tolist(),
                "next_poisson": None if np.isinf(nxt) else nxt,
                "pending": [dict(e) for e in self._pending], "events": [e.to_dict() for e in self._events],
                "clock": self.clock.state_dict()}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        set_rng_state(self.rng, state["rng"])
        set_rng_state(self.rng_manual, state["rng_manual"])
        self._in_gain = np.asarray(state["in_gain"], dtype=np.float64)
        self._in_offset = np.asarray(state["in_offset"], dtype=np.float64)
        self._out_gain = np.asarray(state["out_gain"], dtype=np.float64)
        self._crosstalk = np.asarray(state["crosstalk"], dtype=np.float64)
        nxt = state["next_poisson"]
        self._next_poisson = float("inf") if nxt is None else float(nxt)
        self._pending = [dict(e) for e in state["pending"]]
        self._events = [Event.from_dict(e) for e in state["events"]]
        self.clock.load_state_dict(state["clock"])

    def __repr__(self) -> str:
        return f"<Perturbation rate={self.rate}/s events={len(self._events)} of {self.inner!r}>"
