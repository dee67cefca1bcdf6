"""Simulated arbitrary waveform generators: the Keysight 33500B series and the Tektronix AFG31000 series,
modelled as far as a chain needs (load an arbitrary waveform, amplitude and offset, output, burst
trigger). A trigger plays the selected waveform into the bench's device under test."""

from __future__ import annotations

import numpy as np

from hwsim.instruments.sim.bench import SimError
from hwsim.instruments.sim.model import SimModel, block_values, boolean, number

MAX_AMPLITUDE_VPP = 10.0  # into 50 ohm, both families
MAX_PEAK_V = 5.0          # |offset| + amplitude / 2, into 50 ohm


class SimAWG(SimModel):
    """What both generators share: waveforms in memory (normalised to [-1, 1]), the selected one, amplitude
    (Vpp) and offset (V), output state, and the burst a trigger plays."""

    def reset(self) -> None:
        self.waveforms: dict[str, np.ndarray] = {}
        self.selected: str | None = None
        self.arb_function = False
        self.amplitude_vpp = 0.1
        self.offset_v = 0.0
        self.output_on = False

    def _set_levels(self, amplitude: float, offset: float) -> None:
        if not 1e-3 <= amplitude <= MAX_AMPLITUDE_VPP or abs(offset) + amplitude / 2 > MAX_PEAK_V:
            raise SimError("data_out_of_range")
        self.amplitude_vpp, self.offset_v = amplitude, offset

    def amplitude(self, args: bytes) -> None:
        """Set the amplitude (Vpp)."""
        self._set_levels(number(args), self.offset_v)

    def amplitude_query(self, args: bytes) -> bytes:
        """Report the amplitude (Vpp)."""
        return f"{self.amplitude_vpp:+.15E}".encode()

    def offset(self, args: bytes) -> None:
        """Set the DC offset (V)."""
        self._set_levels(self.amplitude_vpp, number(args))

    def offset_query(self, args: bytes) -> bytes:
        """Report the DC offset (V)."""
        return f"{self.offset_v:+.15E}".encode()

    def output(self, args: bytes) -> None:
        """Output on or off."""
        self.output_on = boolean(args)

    def output_query(self, args: bytes) -> bytes:
        """Output state, 1 or 0."""
        return b"1" if self.output_on else b"0"

    def trigger(self, args: bytes) -> None:
        """Play one burst of the selected arbitrary waveform (nothing leaves a disabled output)."""
        wave = self.waveforms.get(self.selected) if self.selected is not None else None
        if not self.arb_function or wave is None:
            raise SimError("settings_conflict")
        if self.output_on:
            self.bench.play(self.offset_v + 0.5 * self.amplitude_vpp * wave)


class Keysight33500(SimAWG):
    """Keysight 33500B: ``SOURce1:DATA:ARBitrary:DAC <name>,<block of int16 codes, -32767..32767>``,
    ``FORMat:BORDer NORMal|SWAPped``, ``SOURce1:FUNCtion:ARBitrary <name>``, ``SOURce1:FUNCtion ARB``,
    ``SOURce1:VOLTage``, ``SOURce1:VOLTage:OFFSet``, ``OUTPut1``, ``*TRG``, ``SOURce1:DATA:VOLatile:CLEar``."""

    COMMANDS = (
        ("*RST", "rst"), ("*OPC?", "opc"), ("*TRG", "trigger"), ("TRIGger<n>[:IMMediate]", "trigger"),
        ("FORMat:BORDer", "byte_order"),
        ("[SOURce<n>:]DATA:VOLatile:CLEar", "clear_volatile"),
        ("[SOURce<n>:]DATA:ARBitrary:DAC", "load_dac"),
        ("[SOURce<n>:]DATA:ARBitrary", "load_float"),
        ("[SOURce<n>:]FUNCtion:ARBitrary", "select"),
        ("[SOURce<n>:]FUNCtion[:SHAPe]", "function"),
        ("[SOURce<n>:]VOLTage[:AMPLitude]", "amplitude"), ("[SOURce<n>:]VOLTage[:AMPLitude]?", "amplitude_query"),
        ("[SOURce<n>:]VOLTage:OFFSet", "offset"), ("[SOURce<n>:]VOLTage:OFFSet?", "offset_query"),
        ("OUTPut<n>[:STATe]", "output"), ("OUTPut<n>[:STATe]?", "output_query"),
    )
    MIN_POINTS = 8

    def reset(self) -> None:
        super().reset()
        self.big_endian = True

    def byte_order(self, args: bytes) -> None:
        """``NORMal`` (MSB first, the default) or ``SWAPped``."""
        word = args.strip().upper()
        if word in (b"NORM", b"NORMAL"):
            self.big_endian = True
        elif word in (b"SWAP", b"SWAPPED"):
            self.big_endian = False
        else:
            raise SimError("illegal_parameter")

    def clear_volatile(self, args: bytes) -> None:
        """Delete every waveform in volatile memory."""
        self.waveforms.clear()
        self.selected = None

    def _store(self, name: bytes, wave: np.ndarray) -> None:
        if not name or wave.size < self.MIN_POINTS:
            raise SimError("data_out_of_range")
        self.waveforms[name.decode("ascii", errors="replace").upper()] = wave

    def load_dac(self, args: bytes) -> None:
        """``<name>,<block>`` of int16 DAC codes."""
        name, codes = block_values(args, "int16", "big" if self.big_endian else "little")
        if codes.size and (codes.min() < -32767 or codes.max() > 32767):
            raise SimError("data_out_of_range")
        self._store(name, codes / 32767.0)

    def load_float(self, args: bytes) -> None:
        """``<name>,<v1>,<v2>,...`` with values in [-1, 1]."""
        name, sep, rest = args.partition(b",")
        try:
            wave = np.array([float(v) for v in rest.split(b",")], dtype=np.float64)
        except ValueError:
            raise SimError("data_type") from None
        if not sep or np.abs(wave).max(initial=0.0) > 1.0:
            raise SimError("data_out_of_range")
        self._store(name.strip(), wave)

    def select(self, args: bytes) -> None:
        """Select a loaded waveform for the ARB function."""
        name = args.strip().decode("ascii", errors="replace").upper()
        if name not in self.waveforms:
            raise SimError("settings_conflict")
        self.selected = name

    def function(self, args: bytes) -> None:
        """The output function: only ``ARBitrary`` plays the loaded waveform."""
        self.arb_function = args.strip().upper() in (b"ARB", b"ARBITRARY")


class TektronixAFG31000(SimAWG):
    """Tektronix AFG31000: ``DATA:DATA EMEMory,<block of uint16 codes, 0..16383, MSB first>``,
    ``SOURce1:FUNCtion:SHAPe EMEMory``, ``SOURce1:VOLTage:LEVel:IMMediate:AMPLitude``,
    ``SOURce1:VOLTage:LEVel:IMMediate:OFFSet``, ``OUTPut1:STATe``, ``*TRG``."""

    COMMANDS = (
        ("*RST", "rst"), ("*OPC?", "opc"), ("*TRG", "trigger"), ("TRIGger[:SEQuence][:IMMediate]", "trigger"),
        ("DATA[:DATA]", "load"),
        ("[SOURce<n>:]FUNCtion[:SHAPe]", "function"),
        ("[SOURce<n>:]VOLTage[:LEVel][:IMMediate][:AMPLitude]", "amplitude"),
        ("[SOURce<n>:]VOLTage[:LEVel][:IMMediate][:AMPLitude]?", "amplitude_query"),
        ("[SOURce<n>:]VOLTage[:LEVel][:IMMediate]:OFFSet", "offset"),
        ("[SOURce<n>:]VOLTage[:LEVel][:IMMediate]:OFFSet?", "offset_query"),
        ("OUTPut<n>[:STATe]", "output"), ("OUTPut<n>[:STATe]?", "output_query"),
    )
    MAX_CODE = 16383
    MIN_POINTS = 2

    def load(self, args: bytes) -> None:
        """``EMEMory[1|2],<block>`` of 14-bit codes in 16-bit words."""
        name, codes = block_values(args, "uint16", "big")
        memory = _edit_memory(name)
        if memory is None:
            raise SimError("illegal_parameter")
        if codes.size < self.MIN_POINTS or codes.max(initial=0) > self.MAX_CODE:
            raise SimError("data_out_of_range")
        self.waveforms[memory] = codes / self.MAX_CODE * 2 - 1

    def function(self, args: bytes) -> None:
        """``EMEMory[1|2]`` plays that edit memory (what it holds at the trigger); other shapes play no data."""
        self.selected = _edit_memory(args.strip())
        self.arb_function = self.selected is not None


def _edit_memory(name: bytes) -> str | None:
    """``EMEM1`` or ``EMEM2`` for the spellings of an AFG edit memory, else ``None``."""
    word = name.upper().decode("ascii", errors="replace").replace("EMEMORY", "EMEM")
    return {"EMEM": "EMEM1", "EMEM1": "EMEM1", "EMEM2": "EMEM2"}.get(word)
