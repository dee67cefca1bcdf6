"""The base of a simulated instrument model: a table of SCPI header patterns and the methods that answer
them, plus argument parsing shared by every model."""

from __future__ import annotations

import re
from typing import Callable

from hwsim.instruments.blocks import decode_block, unpack_values
from hwsim.instruments.errors import BlockFormatError
from hwsim.instruments.sim.bench import Bench, SimError
from hwsim.instruments.sim.scpi import header_regex

NOT_MINE = object()  # handle() result for a header the model has no entry for (the YAML may answer it)
_NUMBER = re.compile(rb"\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z]*)\s*$")
_UNITS = {b"": 1.0, b"V": 1.0, b"VPP": 1.0, b"MV": 1e-3, b"MVPP": 1e-3, b"S": 1.0, b"MS": 1e-3, b"US": 1e-6,
          b"NS": 1e-9, b"HZ": 1.0, b"KHZ": 1e3, b"MHZ": 1e6}


class SimModel:
    """A simulated instrument: ``COMMANDS`` maps header patterns (see :func:`header_regex`) to method names;
    each method takes the argument bytes and returns the reply bytes, or ``None`` for no reply, or raises
    :class:`SimError` naming an entry of the instrument's error queue. ``reply`` pushes a late reply (set
    by the simulated device; ``*OPC?`` answered when an acquisition completes)."""

    COMMANDS: tuple[tuple[str, str], ...] = ()

    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        self.reply: Callable[[bytes], None] = lambda data: None
        self._table = [(header_regex(p), getattr(self, m)) for p, m in self.COMMANDS]
        self.reset()

    def reset(self) -> None:
        """Power-on (``*RST``) state."""

    def cancel(self) -> None:
        """Device clear: forget replies that were still to come."""

    def handle(self, header: str, args: bytes) -> bytes | None | object:
        """The reply to one command, ``None`` for none, or :data:`NOT_MINE`."""
        for regex, method in self._table:
            if regex.fullmatch(header):
                return method(args)
        return NOT_MINE

    def rst(self, args: bytes) -> None:
        """``*RST``."""
        self.reset()

    def opc(self, args: bytes) -> bytes | None:
        """``*OPC?``: every operation of this model completes at once."""
        return b"1"


def number(args: bytes) -> float:
    """A numeric argument with an optional unit suffix (``1.5``, ``2VPP``, ``500mV``)."""
    m = _NUMBER.match(args)
    if m is None or m.group(2).upper() not in _UNITS:
        raise SimError("data_type")
    return float(m.group(1)) * _UNITS[m.group(2).upper()]


def boolean(args: bytes) -> bool:
    """``ON``/``OFF``/``1``/``0``."""
    word = args.strip().upper()
    if word in (b"ON", b"1"):
        return True
    if word in (b"OFF", b"0"):
        return False
    raise SimError("illegal_parameter")


def choice(args: bytes, options: dict[str, str]) -> str:
    """The option whose short or long form ``args`` spells; ``options`` maps short (capitals) to long form."""
    word = args.strip().upper().decode("ascii", errors="replace")
    for short, long in options.items():
        if word == short or word == long.upper():
            return short
    raise SimError("illegal_parameter")


def block_values(args: bytes, dtype: str, byte_order: str) -> tuple[bytes, object]:
    """``(name, values)`` of ``<name>,<binary block>`` arguments (the name may be empty)."""
    name, sep, rest = args.partition(b",")
    if not sep:
        raise SimError("missing_parameter")
    try:
        payload, tail = decode_block(rest.lstrip())
        values = unpack_values(payload, dtype, byte_order)
    except BlockFormatError:
        raise SimError("block_error") from None
    if tail.strip():
        raise SimError("block_error")
    return name.strip(), values
