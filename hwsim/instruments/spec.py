"""The chain file: a small YAML (or TOML) description of a VISA instrument chain, loaded into frozen
dataclasses and checked before any instrument is opened.

A chain file declares the device a chain forms (input and output shapes, ranges, bits, rows per shot,
time per row), each instrument (resource string, the ``*IDN?`` it must answer, timeouts, terminations,
setup and teardown commands, how to read its error queue) and the steps of one shot: the SCPI that
writes the input rows, arms, triggers, waits, and reads the output back. docs/instruments.md describes
every key; the shipped files (``hwsim/instruments/chains/*.yaml``) are complete examples. Nothing in a
chain file is code: the only names it can refer to are shipped chain and simulation files.

Commands may use the placeholders ``{rows}`` (rows per shot), ``{input_points}`` (values written per
shot), ``{output_points}`` (values read per shot) and, in the write step only, ``{data}`` (the encoded
rows); write literal braces as ``{{`` and ``}}``.
"""

from __future__ import annotations

import math
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

try:
    import tomllib
except ImportError:  # Python 3.10: TOML chain files are refused with a sentence (read_document)
    tomllib = None

from hwsim.instruments.blocks import BLOCK_DTYPES, BYTE_ORDERS
from hwsim.instruments.errors import ChainFileError
from hwsim.instruments.fields import (Table, as_bits, as_codes, as_int, as_number, as_pair, as_shape, as_text,
                                      as_texts, one_of)

SHIPPED_CHAINS = Path(__file__).resolve().parent / "chains"
SHIPPED_SIMULATIONS = Path(__file__).resolve().parent / "sim"
SUFFIXES = (".yaml", ".yml", ".toml")
PLACEHOLDERS = ("rows", "input_points", "output_points")
REQUIRED = object()


@dataclass(frozen=True)
class ErrorCheck:
    """How to ask an instrument whether its last command failed.

    ``query`` reads one entry of the error queue (``SYST:ERR?``: ``<code>,"<message>"``); codes in ``ok``
    mean "no error". When ``esr`` is set (``*ESR?``), it is asked first and the queue is read only if its
    error bits (command, execution, device-dependent and query errors: mask 0x3C) are set, as Tektronix
    oscilloscopes report errors (``*ESR?`` then ``EVMsg?``).
    """

    query: str = "SYST:ERR?"
    ok: tuple[int, ...] = (0,)
    esr: str | None = None
    max_entries: int = 32


@dataclass(frozen=True)
class InstrumentSpec:
    """One instrument of the chain, called ``role`` in the steps."""

    role: str
    resource: str
    idn: str
    timeout_ms: int = 5000
    write_termination: str = "\n"
    read_termination: str = "\n"
    setup: tuple[str, ...] = ()
    teardown: tuple[str, ...] = ()
    errors: ErrorCheck | None = ErrorCheck()
    baud_rate: int | None = None
    chunk_size: int | None = None


@dataclass(frozen=True)
class Encoding:
    """How values cross the bus: an IEEE 488.2 ``block`` of ``dtype`` values in ``byte_order``, or an ``ascii``
    list (``dtype`` ``int`` or ``float``). For the write step, ``codes`` are the instrument values the input
    range's ends map onto (e.g. ``[-32767, 32767]`` DAC codes)."""

    format: str
    dtype: str
    byte_order: str = "big"
    codes: tuple[float, float] | None = None
    digits: int = 6
    separator: str = ","

    @property
    def integer(self) -> bool:
        """Whether the values are integers."""
        return self.dtype == "int" or (self.dtype in BLOCK_DTYPES and not self.dtype.startswith("float"))


@dataclass(frozen=True)
class Source:
    """One term of a scaling factor: a constant ``value``, or field ``field`` (0-based, comma-separated) of the
    reply to ``query``."""

    value: float | None = None
    query: str | None = None
    field: int = 0


@dataclass(frozen=True)
class Scale:
    """``volts = (code - reference) * increment + origin``; each factor is the sum of its sources (Keysight
    ``:WAV:PRE?`` fields 7, 8, 9; Tektronix ``WFMOutpre:YMUlt?``, ``YZEro?``, ``YOFf?``)."""

    increment: tuple[Source, ...] = (Source(1.0),)
    origin: tuple[Source, ...] = (Source(0.0),)
    reference: tuple[Source, ...] = (Source(0.0),)

    @property
    def queries(self) -> tuple[str, ...]:
        """Every distinct query the scale needs, in first-use order."""
        seen: dict[str, None] = {}
        for part in (self.increment, self.origin, self.reference):
            for s in part:
                if s.query is not None:
                    seen.setdefault(s.query, None)
        return tuple(seen)


@dataclass(frozen=True)
class CommandStep:
    """Send ``text``; no reply expected."""

    instrument: str
    text: str


@dataclass(frozen=True)
class WriteStep:
    """Send the shot's input rows: ``prefix + <encoded data> + suffix``."""

    instrument: str
    prefix: str
    suffix: str
    encoding: Encoding


@dataclass(frozen=True)
class QueryStep:
    """Ask ``text`` and wait for the reply (``*OPC?``), which must equal ``expect`` when given."""

    instrument: str
    text: str
    expect: str | None = None
    timeout_s: float | None = None


@dataclass(frozen=True)
class PollStep:
    """Ask ``text`` every ``interval_s`` until the reply (masked by ``mask`` when given) equals ``equals``."""

    instrument: str
    text: str
    equals: str | float
    mask: int | None = None
    interval_s: float = 0.005
    timeout_s: float | None = None


@dataclass(frozen=True)
class ReadStep:
    """Ask ``text`` and read the shot's output values, then scale them to volts."""

    instrument: str
    text: str
    encoding: Encoding
    scale: Scale = Scale()


@dataclass(frozen=True)
class SleepStep:
    """Wait ``seconds`` (settling) on the host."""

    instrument: str
    seconds: float


Step = CommandStep | WriteStep | QueryStep | PollStep | ReadStep | SleepStep


@dataclass(frozen=True)
class Port:
    """One side of the device: ``shape`` per row, full-scale ``range``, converter ``bits`` (``None``: float32 on
    protocol v1) and, for the output, how many instrument points are averaged into one value."""

    shape: tuple[int, ...]
    range: tuple[float, float]
    bits: int | None = None
    points_per_value: int = 1

    @property
    def size(self) -> int:
        """Values per row."""
        return math.prod(self.shape)


@dataclass(frozen=True)
class ChainSpec:
    """A whole chain file."""

    name: str
    path: Path
    input: Port
    output: Port
    instruments: dict[str, InstrumentSpec]
    measure: tuple[Step, ...]
    rows_per_shot: int = 1
    time_per_row_s: float = 0.0
    max_batch: int = 256
    visa_library: str = ""
    simulation: Path | None = None
    description: str = ""
    placeholders: dict[str, int] = field(default_factory=dict)

    @property
    def write_step(self) -> WriteStep:
        """The step that sends the input rows."""
        return next(s for s in self.measure if isinstance(s, WriteStep))

    @property
    def read_step(self) -> ReadStep:
        """The step that reads the output values."""
        return next(s for s in self.measure if isinstance(s, ReadStep))

    @property
    def shot_time_s(self) -> float:
        """Declared time the instruments take to play one shot."""
        return self.rows_per_shot * self.time_per_row_s


# -- the parts of a chain file -------------------------------------------------------------------------------------

def _port(value: Any, t: Table, key: str) -> Port:
    p = Table(value, f"{t.where}.{key}" if t.where != "chain" else key, t.path)
    port = Port(shape=p.take("shape", as_shape), range=p.take("range", as_pair), bits=p.take("bits", as_bits, None),
                points_per_value=p.take("points_per_value", as_int(1), 1) if key == "output" else 1)
    p.finish()
    return port


def _errors(value: Any, t: Table, key: str) -> ErrorCheck | None:
    if value in (False, "none"):
        return None
    e = Table(value, f"{t.where}.{key}", t.path)
    ok = e.take("ok", lambda v, tt, k: tuple(as_int(-(2 ** 31))(i, tt, k) for i in
                                            (v if isinstance(v, list) else [v])), (0,))
    check = ErrorCheck(query=e.take("query", as_text, "SYST:ERR?"), ok=ok, esr=e.take("esr", as_text, None),
                       max_entries=e.take("max_entries", as_int(1), 32))
    e.finish()
    return check


def _instrument(role: str, value: Any, path: Path, values: dict[str, int]) -> InstrumentSpec:
    t = Table(value, f"instruments.{role}", path)

    def commands(v: Any, tt: Table, k: str) -> tuple[str, ...]:
        return tuple(_formatted(c, tt, k, values) for c in as_texts(v, tt, k))

    spec = InstrumentSpec(
        role=role, resource=t.take("resource", as_text), idn=t.take("idn", as_text),
        timeout_ms=t.take("timeout_ms", as_int(1), 5000),
        write_termination=t.take("write_termination", as_text, "\n"),
        read_termination=t.take("read_termination", as_text, "\n"),
        setup=t.take("setup", commands, ()), teardown=t.take("teardown", commands, ()),
        errors=t.take("errors", _errors, ErrorCheck()),
        baud_rate=t.take("baud_rate", as_int(1), None), chunk_size=t.take("chunk_size", as_int(1), None))
    t.finish()
    _check_idn(spec.idn, t)
    return spec


def _check_idn(pattern: str, t: Table) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise t.error("idn", f"is not a valid regular expression ({exc}); escape '.', '(' and '+' with a "
                             "backslash") from None


def _encoding(for_write: bool) -> Callable[[Any, Table, str], Encoding]:
    def check(value: Any, t: Table, key: str) -> Encoding:
        e = Table(value, f"{t.where}.{key}", t.path)
        fmt = e.take("format", one_of("block", "ascii"))
        dtypes = BLOCK_DTYPES if fmt == "block" else ("int", "float")
        enc = Encoding(format=fmt, dtype=e.take("dtype", one_of(*dtypes), None if fmt == "block" else "float"),
                       byte_order=e.take("byte_order", one_of(*BYTE_ORDERS), "big"),
                       codes=e.take("codes", as_codes, None) if for_write else None,
                       digits=e.take("digits", as_int(1), 6), separator=e.take("separator", as_text, ","))
        e.finish()
        if enc.dtype is None:
            raise e.error("dtype", f"is needed for a block: one of {', '.join(BLOCK_DTYPES)}")
        if for_write and enc.integer and enc.codes is None:
            raise e.error("codes", "is needed for integer data: the codes the input range's ends map onto, "
                                   "e.g. [-32767, 32767] for a Keysight 33500 DAC block")
        if for_write and enc.format == "block" and enc.integer and enc.codes is not None:
            info = np.iinfo(enc.dtype)
            if min(enc.codes) < info.min or max(enc.codes) > info.max:
                raise e.error("codes", f"{list(enc.codes)} do not fit {enc.dtype} ({info.min}..{info.max})")
        return enc
    return check


def _sources(value: Any, t: Table, key: str) -> tuple[Source, ...]:
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            out.append(Source(value=float(item)))
            continue
        s = Table(item, f"{t.where}.{key}", t.path)
        out.append(Source(query=s.take("query", as_text), field=s.take("field", as_int(0), 0)))
        s.finish()
    if not out:
        raise t.error(key, "must name at least one number or {query, field}")
    return tuple(out)


def _scale(value: Any, t: Table, key: str) -> Scale:
    s = Table(value, f"{t.where}.{key}", t.path)
    scale = Scale(increment=s.take("increment", _sources, (Source(1.0),)),
                  origin=s.take("origin", _sources, (Source(0.0),)),
                  reference=s.take("reference", _sources, (Source(0.0),)))
    s.finish()
    return scale


def _formatted(text: str, t: Table, key: str, values: dict[str, int]) -> str:
    """``text`` with the placeholders filled in; an unknown placeholder is an error."""
    try:
        names = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
    except ValueError as exc:
        raise t.error(key, f"has unbalanced braces in {text!r} ({exc}); write literal braces as '{{{{' and "
                           "'}}}}'") from None
    unknown = sorted({n for n in names if n not in values})
    if unknown:
        raise t.error(key, f"uses unknown placeholder(s) {unknown} in {text!r}; known: "
                           f"{', '.join('{' + p + '}' for p in values)}")
    return text.format(**values)


def _step(index: int, value: Any, path: Path, roles: dict[str, InstrumentSpec], values: dict[str, int]) -> Step:
    where = f"measure[{index}]"
    if not isinstance(value, dict) or len(value) != 1:
        raise ChainFileError(f"{path}: {where} must be a one-key mapping '<instrument>: <command or action>', "
                             f"not {value!r}")
    (role, action), = value.items()
    if role not in roles:
        raise ChainFileError(f"{path}: {where} names instrument '{role}'; the chain declares {', '.join(roles)}")
    if isinstance(action, str):
        return CommandStep(role, _formatted(action, Table({}, where, path), role, values))
    t = Table(action, f"{where}.{role}", path)
    kinds = [k for k in ("command", "write", "query", "poll", "read", "sleep") if k in t.data]
    if len(kinds) != 1:
        raise ChainFileError(f"{path}: {where}.{role} needs exactly one of command, write, query, poll, read, "
                             f"sleep; it has {kinds or sorted(t.data)}")
    kind = kinds[0]
    step: Step
    if kind == "command":
        step = CommandStep(role, _formatted(t.take("command", as_text), t, "command", values))
    elif kind == "write":
        text = t.take("write", as_text)
        if text.count("{data}") != 1:
            raise t.error("write", f"must contain '{{data}}' exactly once (where the encoded rows go), not {text!r}")
        prefix, suffix = text.split("{data}")
        step = WriteStep(role, _formatted(prefix, t, "write", values), _formatted(suffix, t, "write", values),
                         t.take("encoding", _encoding(True)))
    elif kind == "query":
        step = QueryStep(role, _formatted(t.take("query", as_text), t, "query", values),
                         expect=t.take("expect", lambda v, tt, k: str(v), None),
                         timeout_s=t.take("timeout_s", as_number(0.0), None))
    elif kind == "poll":
        step = _poll_step(role, t, values)
    elif kind == "read":
        step = ReadStep(role, _formatted(t.take("read", as_text), t, "read", values),
                        t.take("encoding", _encoding(False)), t.take("scale", _scale, Scale()))
    else:
        step = SleepStep(role, t.take("sleep", as_number(0.0)))
    t.finish()
    return step


def _poll_step(role: str, t: Table, values: dict[str, int]) -> PollStep:
    text = _formatted(t.take("poll", as_text), t, "poll", values)
    u = Table(t.take("until", lambda v, tt, k: v), f"{t.where}.until", t.path)
    equals = u.take("equals", lambda v, tt, k: v if isinstance(v, (int, float)) and not isinstance(v, bool)
                    else as_text(v, tt, k))
    mask = u.take("mask", as_int(1), None)
    u.finish()
    if mask is not None and not isinstance(equals, (int, float)):
        raise t.error("until", "with 'mask' compares integers: give 'equals' a number")
    return PollStep(role, text, equals=equals, mask=mask, interval_s=t.take("interval_s", as_number(0.0), 0.005),
                    timeout_s=t.take("timeout_s", as_number(0.0), None))


def _simulation(value: Any, t: Table, key: str) -> Path:
    name = as_text(value, t, key)
    if "/" not in name and "\\" not in name and not name.endswith(SUFFIXES):
        found = SHIPPED_SIMULATIONS / f"{name}.yaml"
        if not found.is_file():
            shipped = sorted(p.stem for p in SHIPPED_SIMULATIONS.glob("*.yaml"))
            raise t.error(key, f"names no shipped simulation '{name}'; shipped: {', '.join(shipped)} "
                               "(or give a path relative to the chain file)")
        return found
    return (t.path.parent / name).resolve()


# -- loading ---------------------------------------------------------------------------------------------------------

def shipped_chains() -> list[str]:
    """Names of the chain files shipped with hwsim (``visa?config=<name>``)."""
    return sorted(p.stem for p in SHIPPED_CHAINS.glob("*.yaml"))


def chain_path(ref: str | Path) -> Path:
    """The file ``ref`` names: a shipped chain name (``keysight-awg-scope``) or a path to a YAML/TOML file."""
    text = str(ref)
    if isinstance(ref, Path) or "/" in text or "\\" in text or text.endswith(SUFFIXES):
        path = Path(text).expanduser()
        if not path.is_file():
            raise ChainFileError(f"no chain file at {path}; give a path to a .yaml/.toml file or one of the shipped "
                                 f"chains: {', '.join(shipped_chains())}")
        return path.resolve()
    path = SHIPPED_CHAINS / f"{text}.yaml"
    if not path.is_file():
        raise ChainFileError(f"'{text}' is neither a chain file path nor a shipped chain; shipped chains: "
                             f"{', '.join(shipped_chains())}")
    return path


def read_document(path: Path) -> Any:
    """The parsed content of a YAML or TOML file (PyYAML is imported only here)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ChainFileError(f"cannot read {path}: {exc}") from exc
    if path.suffix == ".toml":
        if tomllib is None:
            raise ChainFileError(f"{path}: TOML chain files need Python 3.11 (tomllib); write the chain in "
                                 "YAML")
        try:
            return tomllib.loads(raw.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ChainFileError(f"{path} is not valid TOML: {exc}") from exc
    try:
        import yaml
    except ImportError:
        raise ChainFileError("reading YAML chain files needs PyYAML: pip install 'hwsim[instruments]'") from None
    try:
        return yaml.safe_load(raw.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ChainFileError(f"{path} is not valid YAML: {exc}") from exc


def _check_wire_bits(path: Path, inp: Port, out: Port, steps: tuple[Step, ...]) -> None:
    """Declared bits make protocol v1 carry codes on a ``2**bits``-level grid over the range; refuse bits that
    would put a served chain's values on another grid than the instrument's (values would change in transit)."""
    if inp.bits is not None:
        enc = next(s for s in steps if isinstance(s, WriteStep)).encoding
        span = abs(enc.codes[1] - enc.codes[0]) if enc.codes is not None else None
        if not enc.integer or span != 2 ** inp.bits - 1:
            raise ChainFileError(
                f"{path}: input.bits {inp.bits} puts protocol-v1 inputs on {2 ** inp.bits} levels, but the write "
                f"step's codes {enc.codes} give the instrument {'no integer grid' if span is None else int(span) + 1} "
                "levels; omit input.bits (inputs then cross the wire as float32) or make them agree")
    if out.bits is not None and out.points_per_value != 1:
        raise ChainFileError(
            f"{path}: output.bits {out.bits} with points_per_value {out.points_per_value}: averaging points gives "
            "values between the ADC's codes, which protocol v1 would round away; omit output.bits")


def load_chain(ref: str | Path) -> ChainSpec:
    """Read and check the chain file ``ref`` (shipped name or path); nothing is opened."""
    path = chain_path(ref)
    t = Table(read_document(path), "chain", path)
    name = t.take("name", as_text, path.stem)
    description = t.take("description", as_text, "")
    inp = t.take("input", _port)
    out = t.take("output", _port)
    rows = t.take("rows_per_shot", as_int(1), 1)
    time_per_row = t.take("time_per_row_s", as_number(0.0), 0.0)
    max_batch = t.take("max_batch", as_int(1), rows * 8)
    library = t.take("visa_library", as_text, "")
    simulation = t.take("simulation", _simulation, None)
    values = {"rows": rows, "input_points": rows * inp.size, "output_points": rows * out.size * out.points_per_value}
    raw_instruments = t.take("instruments", lambda v, tt, k: v)
    if not isinstance(raw_instruments, dict) or not raw_instruments:
        raise ChainFileError(f"{path}: 'instruments' must map each instrument's name to its settings")
    instruments = {str(role): _instrument(str(role), v, path, values) for role, v in raw_instruments.items()}
    raw_steps = t.take("measure", lambda v, tt, k: v)
    t.finish()
    if not isinstance(raw_steps, list) or not raw_steps:
        raise ChainFileError(f"{path}: 'measure' must be a list of steps (write the input, trigger, wait, read)")
    steps = tuple(_step(i, s, path, instruments, values) for i, s in enumerate(raw_steps))
    writes = [i for i, s in enumerate(steps) if isinstance(s, WriteStep)]
    reads = [i for i, s in enumerate(steps) if isinstance(s, ReadStep)]
    if len(writes) != 1 or len(reads) != 1 or writes[0] > reads[0]:
        raise ChainFileError(f"{path}: 'measure' needs exactly one write step (the input rows) and, after it, "
                             f"exactly one read step (the output); it has {len(writes)} write and {len(reads)} read")
    _check_wire_bits(path, inp, out, steps)
    if max_batch % rows:
        raise ChainFileError(f"{path}: max_batch ({max_batch}) must be a multiple of rows_per_shot ({rows}), so a "
                             "served request is a whole number of shots")
    return ChainSpec(name=name, path=path, input=inp, output=out, instruments=instruments, measure=steps,
                     rows_per_shot=rows, time_per_row_s=time_per_row, max_batch=max_batch, visa_library=library,
                     simulation=simulation, description=description, placeholders=values)
