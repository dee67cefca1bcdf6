"""Simulated oscilloscopes: the Keysight InfiniiVision X series and the Tektronix 4/5/6 series MSO, modelled
as far as a chain needs (single acquisition, armed/complete status, vertical scale and offset, waveform
data as a binary block of ADC codes, and the preamble that scales codes back to volts). The record is
the bench's response to the last burst while armed, quantised by the scope's 8- or 16-bit ADC."""

from __future__ import annotations

import numpy as np

from hwsim.instruments.blocks import encode_block, pack_values
from hwsim.instruments.sim.bench import SimError
from hwsim.instruments.sim.model import SimModel, boolean, choice, number


def adc_codes(volts: np.ndarray, increment: float, origin: float, reference: float, lo: int, hi: int) -> np.ndarray:
    """``volts`` digitised: ``code = round((v - origin) / increment + reference)``, saturating at ``lo``/``hi``."""
    return np.clip(np.rint((volts - origin) / increment + reference), lo, hi).astype(np.int64)


class SimScope(SimModel):
    """What both scopes share: vertical scale (V/div) and offset (V) of channel 1, and the acquisition."""

    DIVISIONS = 8.0

    def reset(self) -> None:
        self.scale_v = 1.0
        self.offset_v = 0.0
        self.bench.scope.stop()
        self.bench.scope.record = None
        self.cancel()

    def cancel(self) -> None:
        self.bench.scope.on_complete = []

    def scale(self, args: bytes) -> None:
        """Vertical scale, volts per division."""
        value = number(args)
        if not 1e-3 <= value <= 10.0:
            raise SimError("data_out_of_range")
        self.scale_v = value

    def scale_query(self, args: bytes) -> bytes:
        """Vertical scale, volts per division."""
        return f"{self.scale_v:+.6E}".encode()

    def offset(self, args: bytes) -> None:
        """Vertical offset, volts."""
        value = number(args)
        if abs(value) > 20 * self.scale_v + 5.0:
            raise SimError("data_out_of_range")
        self.offset_v = value

    def offset_query(self, args: bytes) -> bytes:
        """Vertical offset, volts."""
        return f"{self.offset_v:+.6E}".encode()

    def _record(self) -> np.ndarray:
        record = self.bench.scope.record
        if record is None:
            raise SimError("no_data")
        return record


class KeysightInfiniiVision(SimScope):
    """Keysight InfiniiVision X: ``:SINGle``, ``:AER?`` (armed event), ``:OPERegister:CONDition?`` (bit 3 Run,
    bit 5 Wait Trig), ``:TER?``, ``:CHANnel1:SCALe``/``:OFFSet``, ``:WAVeform:FORMat BYTE|WORD``,
    ``:WAVeform:UNSigned``, ``:WAVeform:BYTeorder``, ``:WAVeform:PREamble?``, ``:WAVeform:DATA?``. Screen:
    8 divisions; ``volts = (code - yreference) * yincrement + yorigin``."""

    COMMANDS = (
        ("*RST", "rst"), ("*OPC?", "opc"), ("SINGle", "single"), ("STOP", "stop"),
        ("AER?", "aer"), ("TER?", "ter"), ("OPERegister:CONDition?", "operation_condition"),
        ("CHANnel<n>:SCALe", "scale"), ("CHANnel<n>:SCALe?", "scale_query"),
        ("CHANnel<n>:OFFSet", "offset"), ("CHANnel<n>:OFFSet?", "offset_query"),
        ("WAVeform:FORMat", "waveform_format"), ("WAVeform:UNSigned", "unsigned"),
        ("WAVeform:BYTeorder", "byte_order"), ("WAVeform:PREamble?", "preamble"),
        ("WAVeform:POINts?", "points"), ("WAVeform:DATA?", "data"),
    )

    def reset(self) -> None:
        super().reset()
        self.word = False
        self.signed = False
        self.big_endian = True
        self.arm_event = False

    def single(self, args: bytes) -> None:
        """Arm one acquisition."""
        self.bench.scope.arm()
        self.arm_event = True

    def stop(self, args: bytes) -> None:
        """Stop acquiring."""
        self.bench.scope.stop()

    def aer(self, args: bytes) -> bytes:
        """Arm event register: 1 once armed since last read (reading clears it)."""
        event, self.arm_event = self.arm_event and self.bench.scope.armed, False
        return b"1" if event else b"0"

    def ter(self, args: bytes) -> bytes:
        """Trigger event register: 1 once triggered since last read (reading clears it)."""
        event, self.bench.scope.triggered = self.bench.scope.triggered, False
        return b"+1" if event else b"+0"

    def operation_condition(self, args: bytes) -> bytes:
        """Run (8) and Wait Trig (32) while an acquisition is armed."""
        return b"+40" if self.bench.scope.armed else b"+0"

    def waveform_format(self, args: bytes) -> None:
        """``BYTE`` or ``WORD`` (ASCii is not simulated)."""
        self.word = choice(args, {"BYTE": "BYTE", "WORD": "WORD"}) == "WORD"

    def unsigned(self, args: bytes) -> None:
        """Unsigned (ON, default) or signed codes."""
        self.signed = not boolean(args)

    def byte_order(self, args: bytes) -> None:
        """``MSBFirst`` or ``LSBFirst`` for WORD data."""
        self.big_endian = choice(args, {"MSBF": "MSBFirst", "LSBF": "LSBFirst"}) == "MSBF"

    def _scaling(self) -> tuple[float, float, float, int, int]:
        levels = 65536 if self.word else 256
        reference = 0 if self.signed else levels // 2
        lo = -levels // 2 if self.signed else 0
        return self.DIVISIONS * self.scale_v / levels, self.offset_v, reference, lo, lo + levels - 1

    def preamble(self, args: bytes) -> bytes:
        """format, type, points, count, xincrement, xorigin, xreference, yincrement, yorigin, yreference."""
        increment, origin, reference, _, _ = self._scaling()
        points = 0 if self.bench.scope.record is None else self.bench.scope.record.size
        return (f"{1 if self.word else 0},0,{points},1,{1e-6:+.6E},{0.0:+.6E},0,"
                f"{increment:+.6E},{origin:+.6E},{reference}").encode()

    def points(self, args: bytes) -> bytes:
        """Points in the record."""
        return str(self._record().size).encode()

    def data(self, args: bytes) -> bytes:
        """The record as a definite-length block of codes."""
        increment, origin, reference, lo, hi = self._scaling()
        increment = float(f"{increment:+.6E}")  # what the preamble reports is what the data obeys
        codes = adc_codes(self._record(), increment, origin, reference, lo, hi)
        dtype = ("int16" if self.signed else "uint16") if self.word else ("int8" if self.signed else "uint8")
        return self.bench.deliver(encode_block(pack_values(codes, dtype, "big" if self.big_endian else "little")))


class TektronixMSO(SimScope):
    """Tektronix 4/5/6 series MSO: ``ACQuire:STOPAfter SEQuence``, ``ACQuire:STATE ON`` (arms; ``*OPC?``
    answers when the acquisition completes), ``TRIGger:STATE?`` (``READY`` while armed), ``CH1:SCAle``/
    ``OFFSet``/``POSition``, ``DATa:ENCdg``, ``WFMOutpre:BYT_Nr``, ``DATa:STARt``/``STOP``, ``CURVe?``,
    ``WFMOutpre:YMUlt?``/``YOFf?``/``YZEro?``/``NR_Pt?``. Screen: 10 divisions of 25 levels (1 byte);
    ``volts = (code - YOFf) * YMUlt + YZEro``."""

    COMMANDS = (
        ("*RST", "rst"), ("*OPC?", "opc"), ("ACQuire:STATE", "acquire_state"), ("ACQuire:STOPAfter", "stop_after"),
        ("TRIGger:STATE?", "trigger_state"),
        ("CH<n>:SCAle", "scale"), ("CH<n>:SCAle?", "scale_query"), ("CH<n>:OFFSet", "offset"),
        ("CH<n>:OFFSet?", "offset_query"), ("CH<n>:POSition", "position"),
        ("DATa:ENCdg", "encoding"), ("WFMOutpre:BYT_Nr", "byte_count"), ("DATa:STARt", "start"), ("DATa:STOP", "stop"),
        ("WFMOutpre:YMUlt?", "ymult"), ("WFMOutpre:YOFf?", "yoff"), ("WFMOutpre:YZEro?", "yzero"),
        ("WFMOutpre:NR_Pt?", "nr_pt"), ("CURVe?", "curve"),
    )
    DIVISIONS = 10.0
    ENCODINGS = {"RIB": "RIBinary", "RPB": "RPBinary", "SRI": "SRIbinary", "SRP": "SRPbinary"}

    def reset(self) -> None:
        super().reset()
        self.position_div = 0.0
        self.encoding_name = "RIB"
        self.bytes_per_point = 1
        self.first, self.last = 1, 10 ** 9
        self.sequence = False

    def opc(self, args: bytes) -> bytes | None:
        """``*OPC?``: answered once a pending single acquisition completes."""
        if self.bench.scope.armed and self.sequence:
            self.bench.scope.on_complete.append(lambda: self.reply(b"1"))
            return None
        return b"1"

    def acquire_state(self, args: bytes) -> None:
        """``ON``/``RUN``/``1`` arms, ``OFF``/``STOP``/``0`` stops."""
        word = args.strip().upper()
        if word in (b"ON", b"RUN", b"1"):
            self.bench.scope.arm()
        elif word in (b"OFF", b"STOP", b"0"):
            self.bench.scope.stop()
        else:
            raise SimError("illegal_parameter")

    def stop_after(self, args: bytes) -> None:
        """``SEQuence`` (single acquisition) or ``RUNSTop``."""
        self.sequence = choice(args, {"SEQ": "SEQuence", "RUNST": "RUNSTop"}) == "SEQ"

    def trigger_state(self, args: bytes) -> bytes:
        """``READY`` while waiting for a trigger, else ``SAVE``."""
        return b"READY" if self.bench.scope.armed else b"SAVE"

    def position(self, args: bytes) -> None:
        """Vertical position, divisions."""
        value = number(args)
        if abs(value) > 5.0:
            raise SimError("data_out_of_range")
        self.position_div = value

    def encoding(self, args: bytes) -> None:
        """``RIBinary`` (signed, MSB first), ``RPBinary`` (unsigned), ``SRIbinary``/``SRPbinary`` (LSB first)."""
        self.encoding_name = choice(args, self.ENCODINGS)

    def byte_count(self, args: bytes) -> None:
        """1 or 2 bytes per point."""
        value = number(args)
        if value not in (1.0, 2.0):
            raise SimError("data_out_of_range")
        self.bytes_per_point = int(value)

    def start(self, args: bytes) -> None:
        """First point to transfer (1-based)."""
        self.first = max(1, int(number(args)))

    def stop(self, args: bytes) -> None:
        """Last point to transfer (1-based, inclusive)."""
        self.last = max(1, int(number(args)))

    def _scaling(self) -> tuple[float, float, float, int, int]:
        levels = 256 ** self.bytes_per_point
        per_div = levels / 10.24  # 25 levels per division for one byte
        signed = self.encoding_name in ("RIB", "SRI")
        shift = 0 if signed else levels // 2
        lo = -levels // 2 + 1 + shift
        return self.scale_v / per_div, self.offset_v, -self.position_div * per_div + shift, lo, lo + levels - 2

    def ymult(self, args: bytes) -> bytes:
        """Volts per digitising level."""
        return f"{self._scaling()[0]:.6E}".encode()

    def yoff(self, args: bytes) -> bytes:
        """Vertical position in digitising levels."""
        return f"{self._scaling()[2]:.6E}".encode()

    def yzero(self, args: bytes) -> bytes:
        """Vertical offset, volts."""
        return f"{self._scaling()[1]:.6E}".encode()

    def nr_pt(self, args: bytes) -> bytes:
        """Points the next ``CURVe?`` transfers."""
        return str(self._selection().size).encode()

    def _selection(self) -> np.ndarray:
        record = self._record()
        return record[self.first - 1:min(self.last, record.size)]

    def curve(self, args: bytes) -> bytes:
        """The selected points as a definite-length block of codes."""
        increment, origin, reference, lo, hi = self._scaling()
        increment, reference = float(f"{increment:.6E}"), float(f"{reference:.6E}")
        codes = adc_codes(self._selection(), increment, origin, reference, lo, hi)
        signed = self.encoding_name in ("RIB", "SRI")
        dtype = {1: "int8", 2: "int16"}[self.bytes_per_point] if signed else {1: "uint8", 2: "uint16"}[
            self.bytes_per_point]
        order = "big" if self.encoding_name in ("RIB", "RPB") else "little"
        return self.bench.deliver(encode_block(pack_values(codes, dtype, order)))
