"""A chain of VISA instruments (e.g. an arbitrary waveform generator driving a physical system and an
oscilloscope reading it back) as one :class:`hwsim.Device`, declared in a chain file.

Build it by name like any device: ``create_device("visa?config=keysight-awg-scope&simulate=true")``,
``hwsim train --system 'visa?config=lab/chain.yaml'``, ``hwsim serve 'visa?config=lab/chain.yaml' --pty``.
A batch is measured in shots of ``rows_per_shot`` rows (1: row by row): the rows of a shot are encoded
into one upload (e.g. one arbitrary waveform of ``rows x inputs`` points), the chain file's steps arm,
trigger and wait, and one read returns ``rows x outputs x points_per_value`` points, which are scaled to
volts (from the preamble) and averaged per output value. A last, partial shot is padded with mid-range
rows so every shot has the same length (real instruments keep one record length); only the rows asked
for are counted and returned.
"""

from __future__ import annotations

import time
import warnings
from typing import Callable

import numpy as np

from hwsim.device import Device, DeviceInfo
from hwsim.instruments.blocks import encode_block, format_ascii, pack_values, to_codes
from hwsim.instruments.errors import InstrumentError
from hwsim.instruments.library import open_resource_manager
from hwsim.instruments.session import Instrument, pyvisa_module
from hwsim.instruments.spec import (ChainSpec, CommandStep, PollStep, QueryStep, ReadStep, SleepStep, Step, WriteStep,
                                    load_chain)


class _Shot:
    """What one shot carries between its steps: the encoded upload in, the scaled values out."""

    def __init__(self, message: bytes, rows: int) -> None:
        self.message = message
        self.rows = rows
        self.values: np.ndarray | None = None


class VisaChain(Device):
    """The instruments of the chain file ``config`` (a shipped chain name or a path) as one device.

    ``simulate=True`` runs the chain against its declared simulated bench (pyvisa-sim instruments and a
    physical system, :mod:`hwsim.instruments.sim`) instead of the VISA library; ``seed`` then overrides
    the bench's noise seed. Opening asks every instrument's ``*IDN?`` (refusing a wrong one) before any
    setup command is sent, then runs each instrument's setup. :meth:`describe` lists what was found.
    """

    def __init__(self, config: str, simulate: bool = False, seed: int | None = None) -> None:
        super().__init__()
        self.spec: ChainSpec = load_chain(config)
        self.simulated = bool(simulate)
        self.shots = 0
        self._grid_ok: tuple[float, float, float] | None = None
        self.instruments: dict[str, Instrument] = {}
        self._rm = open_resource_manager(self.spec, self.simulated, seed)
        try:
            for role, ispec in self.spec.instruments.items():
                self.instruments[role] = Instrument(ispec, self._rm)
            for inst in self.instruments.values():
                inst.identify()
            for inst in self.instruments.values():
                inst.run_setup()
        except BaseException:
            self._release()
            raise
        self.info = self._declare()

    def _declare(self) -> DeviceInfo:
        s = self.spec
        serials = [i.idn.split(",")[2].strip() for i in self.instruments.values() if i.idn.count(",") >= 2]
        models = [f"{role} {i.idn.split(',')[1].strip() if i.idn.count(',') >= 1 else i.idn}"
                  for role, i in self.instruments.items()]
        return DeviceInfo(
            name=s.name, input_shape=s.input.shape, output_shape=s.output.shape, input_range=s.input.range,
            output_range=s.output.range, dac_bits=s.input.bits, adc_bits=s.output.bits, max_batch=s.max_batch,
            firmware_version="hwsim-visa/0.1", serial_number=("+".join(serials) or "VISA")[:64],
            description=f"{s.description or s.name}: {', '.join(models)}"
                        f"{' (simulated bench)' if self.simulated else ''}")

    row_time_source = "the chain file's time_per_row_s"

    @property
    def row_time_s(self) -> float | None:
        """Declared instrument time per row (``time_per_row_s``; ``None`` when not declared)."""
        return self.spec.time_per_row_s or None

    # -- measuring ---------------------------------------------------------------------------------------------------
    def _measure(self, x: np.ndarray) -> np.ndarray:
        rows = x.reshape(x.shape[0], -1)
        per_shot = self.spec.rows_per_shot
        out = np.empty((rows.shape[0], self.spec.output.size), dtype=np.float32)
        mid = 0.5 * (self.spec.input.range[0] + self.spec.input.range[1])
        for start in range(0, rows.shape[0], per_shot):
            chunk = rows[start:start + per_shot]
            if chunk.shape[0] < per_shot:
                chunk = np.concatenate([chunk, np.full((per_shot - chunk.shape[0], chunk.shape[1]), mid, np.float32)])
            n = min(per_shot, rows.shape[0] - start)
            out[start:start + n] = self.shoot(chunk)[:n]
        return out.reshape(x.shape[0], *self.spec.output.shape)

    def shoot(self, rows: np.ndarray) -> np.ndarray:
        """Measure exactly one shot of ``rows_per_shot`` rows ``(rows, inputs)``; returns ``(rows, outputs)`` volts."""
        shot = _Shot(self._upload(rows), rows.shape[0])
        for step in self.spec.measure:
            _RUNNERS[type(step)](self, step, shot)
        self.shots += 1
        assert shot.values is not None
        return shot.values

    def _upload(self, rows: np.ndarray) -> bytes:
        step = self.spec.write_step
        enc = step.encoding
        codes = to_codes(rows.ravel(), self.spec.input.range, enc.codes or self.spec.input.range, enc.integer)
        if enc.format == "block":
            data = encode_block(pack_values(codes, enc.dtype, enc.byte_order))
        else:
            data = format_ascii(codes, enc.integer, enc.digits, enc.separator).encode()
        return step.prefix.encode() + data + step.suffix.encode()

    def _wait_s(self, role: str, timeout_s: float | None) -> float:
        """A step's timeout: its own, else the instrument's plus the declared time of one shot."""
        if timeout_s is not None:
            return timeout_s
        return self.spec.instruments[role].timeout_ms * 1e-3 + self.spec.shot_time_s

    def _read(self, step: ReadStep, shot: _Shot) -> None:
        inst = self.instruments[step.instrument]
        values = inst.read_values(step.text, step.encoding, self._wait_s(step.instrument, None))
        out = self.spec.output
        expect = shot.rows * out.size * out.points_per_value
        if values.size != expect:
            raise InstrumentError(
                f"{inst.where} returned {values.size:,d} points for '{step.text}'; the chain declares {shot.rows} "
                f"rows x {out.size} outputs x {out.points_per_value} points per value = {expect:,d}; set the "
                "instrument's record length (e.g. ':WAVeform:POINts {output_points}', 'DATa:STOP {output_points}') "
                "or the chain's output shape")
        replies: dict[str, str] = {}
        scale = step.scale
        increment = inst.scale_factor(scale.increment, replies)
        origin = inst.scale_factor(scale.origin, replies)
        reference = inst.scale_factor(scale.reference, replies)
        if out.bits is not None:
            self._check_grid(inst, increment, origin, reference)
        volts = (values - reference) * increment + origin
        shot.values = volts.reshape(shot.rows, out.size, out.points_per_value).mean(axis=2).astype(np.float32)

    def _check_grid(self, inst: Instrument, increment: float, origin: float, reference: float) -> None:
        """With output bits declared, the scaled codes must lie on the protocol's grid over the output range."""
        key = (increment, origin, reference)
        if key == self._grid_ok:
            return
        lo, hi = self.spec.output.range
        bits = self.spec.output.bits
        assert bits is not None
        lsb = (hi - lo) / (2 ** bits - 1)
        first = (lo - origin) / increment + reference  # the instrument code at the range's low end
        if abs(increment - lsb) > 1e-9 * abs(lsb) or abs(first - round(first)) > 1e-6:
            code_lo = round((lo - origin) / increment + reference)
            lo_v = (code_lo - reference) * increment + origin
            raise InstrumentError(
                f"{inst.where}: its scale ({increment:.6g} V per code, code {reference:g} at {origin:.6g} V) does not "
                f"put codes on the {2 ** bits}-level grid of the declared output range {self.spec.output.range}; "
                f"declare range [{lo_v:.9g}, {lo_v + (2 ** bits - 1) * increment:.9g}] or omit output.bits")
        self._grid_ok = key

    # -- identity and life cycle -------------------------------------------------------------------------------------
    def describe(self) -> list[str]:
        """What ``hwsim probe`` prints for a chain: each instrument's identity and the declared capabilities."""
        s = self.spec
        w, r = s.write_step, s.read_step

        def bits(b: int | None) -> str:
            return f"protocol v1 {b}-bit codes" if b else "protocol v1 float32"

        bench = f", simulated bench {s.simulation.name}" if self.simulated and s.simulation else ""
        lines = [f"chain        {s.name}  ({s.path}{bench})"]
        lines += [f"instrument   {i.describe()}" for i in self.instruments.values()]
        lines += [
            f"input        {s.input.shape} range {s.input.range} ({bits(s.input.bits)}), written to "
            f"'{w.instrument}' as {w.encoding.format} {w.encoding.dtype} codes {w.encoding.codes or s.input.range}",
            f"output       {s.output.shape} range {s.output.range} V ({bits(s.output.bits)}), read from "
            f"'{r.instrument}' with '{r.text}' ({r.encoding.format} {r.encoding.dtype}), "
            f"{s.output.points_per_value} point(s) per value",
            f"shots        {s.rows_per_shot} row(s) per shot, {s.time_per_row_s * 1e3:.4g} ms per row, "
            f"max_batch {s.max_batch}, {len(s.measure)} steps per shot",
        ]
        return lines

    def _release(self) -> list[str]:
        problems: list[str] = []
        for inst in self.instruments.values():
            problems += inst.close()
        try:
            self._rm.close()
        except pyvisa_module().errors.Error as exc:  # the VISA library's own close: report it, nothing is left to undo
            problems.append(f"closing the VISA resource manager failed: {exc}")
        return problems

    def close(self) -> None:
        """Send every instrument's teardown commands, close the sessions; problems are warned about, not lost."""
        if self.closed:
            return
        super().close()
        for problem in self._release():
            warnings.warn(f"hwsim.instruments: {problem}", RuntimeWarning, stacklevel=2)


def _run_command(chain: VisaChain, step: CommandStep, shot: _Shot) -> None:
    chain.instruments[step.instrument].command(step.text)


def _run_write(chain: VisaChain, step: WriteStep, shot: _Shot) -> None:
    size = len(shot.message) - len(step.prefix) - len(step.suffix)
    chain.instruments[step.instrument].write_raw(shot.message, f"{step.prefix}<{size:,d} bytes of data>{step.suffix}")


def _run_query(chain: VisaChain, step: QueryStep, shot: _Shot) -> None:
    chain.instruments[step.instrument].query(step.text, step.expect, chain._wait_s(step.instrument, step.timeout_s))


def _run_poll(chain: VisaChain, step: PollStep, shot: _Shot) -> None:
    chain.instruments[step.instrument].poll(step, chain._wait_s(step.instrument, step.timeout_s))


def _run_read(chain: VisaChain, step: ReadStep, shot: _Shot) -> None:
    chain._read(step, shot)


def _run_sleep(chain: VisaChain, step: SleepStep, shot: _Shot) -> None:
    time.sleep(step.seconds)


# step type -> what running it does
_RUNNERS: dict[type, Callable[[VisaChain, Step, _Shot], None]] = {
    CommandStep: _run_command, WriteStep: _run_write, QueryStep: _run_query, PollStep: _run_poll,
    ReadStep: _run_read, SleepStep: _run_sleep,
}
