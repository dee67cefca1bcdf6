"""The cable between the simulated instruments: what the AWG plays goes through a physical system (the
device under test) and arrives, with the bench's noise, at the oscilloscope's input.

The device under test is any registered hwsim device (``oscillators``, ``duffing``, ``reference``...),
built with :func:`hwsim.registry.create_device` from the bench file's ``dut`` spec, so a simulated
chain measures a real nonlinear transfer: the coupled-oscillator chain driven by the waveform, for the
shipped benches. The AWG's output voltage (``offset + amplitude/2 * waveform``) is mapped from
``drive_range_v`` onto the device's input range; every ``n_in`` consecutive samples are one row, measured
from rest (the bench assumes the system rings down between rows, as a real chain ensures with idle time);
each output value is multiplied by ``output_gain_v`` volts, repeated ``oversample`` times (the scope
samples faster than the outputs change), and Gaussian noise of ``noise_v`` volts rms, seeded by ``seed``,
is added to every scope point before the scope's own ADC quantises it.

``fault`` makes the scope misbehave on purpose, to exercise the host's error handling: ``short_block``
(the data reply loses its last quarter but keeps its header) or ``malformed_block`` (a garbled header).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from hwsim.device import Device
from hwsim.instruments.blocks import block_header
from hwsim.instruments.errors import ChainFileError
from hwsim.instruments.fields import Table, as_int, as_number, as_pair, as_text, one_of
from hwsim.registry import create_device

FAULTS = ("none", "short_block", "malformed_block")


class SimError(Exception):
    """A simulated instrument refuses a command; ``key`` names the entry of its error queue (in the YAML)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


@dataclass(frozen=True)
class LabBenchConfig:
    """The ``hwsim_bench`` section of a simulation file: the simulated lab bench (instruments and the system
    between them)."""

    path: Path
    awg_resource: str
    awg_model: str
    scope_resource: str
    scope_model: str
    dut: str
    drive_range_v: tuple[float, float] = (-1.0, 1.0)
    output_gain_v: float = 0.4
    noise_v: float = 0.002
    oversample: int = 1
    seed: int = 0
    fault: str = "none"


def read_bench_config(data: Any, path: Path, models: tuple[str, ...]) -> LabBenchConfig:
    """Check the ``hwsim_bench`` section ``data`` of the simulation file ``path``."""
    t = Table(data, "hwsim_bench", path)

    def instrument(key: str) -> tuple[str, str]:
        i = Table(t.take(key, lambda v, tt, k: v), f"hwsim_bench.{key}", path)
        pair = i.take("resource", as_text), i.take("model", one_of(*models))
        i.finish()
        return pair

    awg = instrument("awg")
    scope = instrument("scope")
    cfg = LabBenchConfig(path=path, awg_resource=awg[0], awg_model=awg[1], scope_resource=scope[0],
                         scope_model=scope[1], dut=t.take("dut", as_text),
                         drive_range_v=t.take("drive_range_v", as_pair, (-1.0, 1.0)),
                         output_gain_v=t.take("output_gain_v", as_number(0.0), 0.4),
                         noise_v=t.take("noise_v", as_number(0.0), 0.002),
                         oversample=t.take("oversample", as_int(1), 1),
                         seed=t.take("seed", as_int(0), 0), fault=t.take("fault", one_of(*FAULTS), "none"))
    t.finish()
    return cfg


class ScopeInput:
    """The scope's acquisition: armed or not, and the last record (volts at its input)."""

    def __init__(self) -> None:
        self.armed = False
        self.record: np.ndarray | None = None
        self.triggered = False  # trigger event since the host last asked
        self.on_complete: list[Callable[[], None]] = []

    def arm(self) -> None:
        """Wait for the next trigger (single acquisition)."""
        self.armed = True

    def stop(self) -> None:
        """Stop waiting (no record is taken)."""
        self.armed = False

    def capture(self, volts: np.ndarray) -> None:
        """A trigger while armed: keep ``volts`` as the record and complete the acquisition."""
        if not self.armed:
            return
        self.record = volts
        self.armed = False
        self.triggered = True
        waiting, self.on_complete = self.on_complete, []
        for done in waiting:
            done()


class Bench:
    """The AWG -> device under test -> scope path of one simulation file (fresh for every chain opened)."""

    def __init__(self, cfg: LabBenchConfig, seed: int | None = None) -> None:
        self.cfg = cfg
        try:
            self.dut: Device = create_device(cfg.dut)
        except Exception as exc:
            raise ChainFileError(f"{cfg.path}: hwsim_bench.dut '{cfg.dut}' cannot be built: {exc}") from exc
        self.rng = np.random.default_rng(cfg.seed if seed is None else seed)
        self.scope = ScopeInput()

    @property
    def row_inputs(self) -> int:
        """AWG samples per row (the device under test's input size)."""
        return self.dut.info.input_size

    def play(self, volts: np.ndarray) -> None:
        """The AWG plays ``volts`` (one burst); the scope, if armed, records the response. Raises
        :class:`SimError` (``settings_conflict``) when the waveform is not a whole number of rows."""
        n = self.row_inputs
        if volts.size == 0 or volts.size % n:
            raise SimError("settings_conflict")
        lo, hi = self.cfg.drive_range_v
        in_lo, in_hi = self.dut.info.input_range
        x = in_lo + (np.clip(volts, lo, hi) - lo) * ((in_hi - in_lo) / (hi - lo))
        y = self.dut.measure(x.reshape(-1, *self.dut.info.input_shape).astype(np.float32))
        v = self.cfg.output_gain_v * np.asarray(y, dtype=np.float64).reshape(y.shape[0], -1)
        v = np.repeat(v, self.cfg.oversample, axis=1).ravel()
        if self.cfg.noise_v:
            v = v + self.rng.normal(0.0, self.cfg.noise_v, v.shape)
        self.scope.capture(v)

    def deliver(self, block: bytes) -> bytes:
        """The scope's data reply as the bench's ``fault`` lets it arrive."""
        if self.cfg.fault == "short_block":
            head = block_header(block)
            assert head is not None
            offset, length = head
            return block[:offset + length - max(1, length // 4)]
        if self.cfg.fault == "malformed_block":
            return b"#X" + block[2:]
        return block
