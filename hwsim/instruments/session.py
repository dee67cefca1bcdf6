"""One instrument of a chain, seen through PyVISA's public API only: open, identify, send commands, read
replies and data blocks, poll a status query, and check the error queue after every command.

Every VISA failure becomes a specific :mod:`hwsim.instruments.errors` exception that names the instrument,
its resource string and the command, and says what to check. The same code drives a simulated bench
(:mod:`hwsim.instruments.sim`) and a real Keysight, Tektronix or Rigol instrument.
"""

from __future__ import annotations

import re
import time
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np

from hwsim.errors import NotSupportedError
from hwsim.instruments.blocks import block_header, decode_block, parse_ascii, unpack_values
from hwsim.instruments.errors import (BlockFormatError, CommandRejectedError, IdentityMismatchError, InstrumentError,
                                      InstrumentNotFoundError, InstrumentTimeoutError)
from hwsim.instruments.spec import Encoding, InstrumentSpec, PollStep, Source

ESR_ERROR_BITS = 0x3C  # *ESR? query (4), device-dependent (8), execution (16) and command (32) errors
_LEADING_INT = re.compile(r"\s*([+-]?\d+)")


def pyvisa_module() -> Any:
    """The ``pyvisa`` module, imported on first use, or a :class:`NotSupportedError` saying how to install it."""
    try:
        import pyvisa
    except ImportError:
        raise NotSupportedError("instrument chains need PyVISA: pip install 'hwsim[instruments]' "
                                "(pyvisa, pyvisa-sim, pyyaml)") from None
    return pyvisa


class Instrument:
    """An open VISA resource for the instrument ``spec`` describes, opened through ``resource_manager``.

    Opening checks nothing yet; :meth:`identify` asks ``*IDN?`` and :meth:`run_setup` sends the setup
    commands. ``idn`` holds the identity once known, ``stale_errors`` the error-queue entries that were
    waiting before hwsim connected (reported, never dropped silently).
    """

    def __init__(self, spec: InstrumentSpec, resource_manager: Any) -> None:
        self.spec = spec
        self.role = spec.role
        self.idn = ""
        self.stale_errors: list[str] = []
        self._visa = pyvisa_module()
        options: dict[str, Any] = {"read_termination": spec.read_termination or None,
                                   "write_termination": spec.write_termination or None, "timeout": spec.timeout_ms}
        if spec.baud_rate is not None:
            options["baud_rate"] = spec.baud_rate
        if spec.chunk_size is not None:
            options["chunk_size"] = spec.chunk_size
        try:
            self.resource = resource_manager.open_resource(spec.resource, **options)
        except self._visa.errors.VisaIOError as exc:
            raise InstrumentNotFoundError(
                f"instrument '{self.role}': the VISA library cannot open '{spec.resource}' ({exc.description}); "
                f"check the resource string, cable and power{self._listing(resource_manager)}") from None
        except ValueError as exc:  # an unparsable resource name, or options the interface does not have
            raise InstrumentNotFoundError(
                f"instrument '{self.role}': cannot open '{spec.resource}': {exc}; check the resource string "
                "(e.g. 'TCPIP0::192.168.1.10::inst0::INSTR', 'USB0::0x0957::0x2C07::MY52800001::INSTR')") from None

    @staticmethod
    def _listing(resource_manager: Any) -> str:
        try:
            found = resource_manager.list_resources()
        except (pyvisa_module().errors.Error, ValueError):  # only a hint: a library that cannot list is no error here
            return ""
        return f"; the VISA library sees: {', '.join(found)}" if found else "; the VISA library sees no instruments"

    @property
    def where(self) -> str:
        """``'<role>' (<resource>)`` for messages."""
        return f"instrument '{self.role}' ({self.spec.resource})"

    # -- VISA calls, with errors mapped --------------------------------------------------------------------------
    @contextmanager
    def _calls(self, action: str, timeout_ms: int, hint: str = "") -> Iterator[None]:
        try:
            yield
        except self._visa.errors.VisaIOError as exc:
            resync = self._resync()
            if exc.error_code == self._visa.constants.StatusCode.error_timeout:
                raise InstrumentTimeoutError(
                    f"{self.where} did not answer {action} within {timeout_ms} ms; "
                    f"{hint or 'check the cable and that the instrument is not busy or waiting for a trigger'}"
                    f", or raise timeout_ms in the chain file{resync}") from None
            raise InstrumentError(f"{self.where}: {action} failed ({exc.description}); check the connection"
                                  f"{resync}") from None

    def _resync(self) -> str:
        """Device clear after a failed transfer, so a late reply cannot answer the next query."""
        try:
            self.resource.clear()
        except (NotImplementedError, self._visa.errors.VisaIOError) as exc:
            return f" (device clear failed: {exc}; reopen the chain before measuring again)"
        return ""

    @contextmanager
    def _timeout(self, timeout_ms: int) -> Iterator[None]:
        old = self.resource.timeout
        if timeout_ms != old:
            self.resource.timeout = timeout_ms
        try:
            yield
        finally:
            if timeout_ms != old:
                self.resource.timeout = old

    def _ms(self, timeout_s: float | None) -> int:
        return self.spec.timeout_ms if timeout_s is None else max(1, int(round(timeout_s * 1e3)))

    def ask(self, text: str, timeout_s: float | None = None, hint: str = "") -> str:
        """The reply to query ``text`` (no error-queue check)."""
        ms = self._ms(timeout_s)
        with self._timeout(ms), self._calls(f"'{text}'", ms, hint):
            return self.resource.query(text).strip()

    # -- commands ---------------------------------------------------------------------------------------------------
    def identify(self) -> str:
        """Ask ``*IDN?``, refuse an instrument the chain file does not accept, then collect stale errors."""
        self.idn = self.ask("*IDN?", hint="check the resource string and that the instrument speaks SCPI")
        if not re.match(self.spec.idn, self.idn, re.IGNORECASE):
            raise IdentityMismatchError(
                f"{self.where} answers *IDN? with '{self.idn}', which does not match the chain file's idn "
                f"'{self.spec.idn}'; check that the resource string points at the intended instrument, or update "
                "'idn' if this model is meant")
        if self.spec.errors is not None:
            self.stale_errors = self._error_entries()
        return self.idn

    def run_setup(self) -> None:
        """Send the setup commands, checking errors after each."""
        for text in self.spec.setup:
            self.command(text)

    def command(self, text: str) -> None:
        """Send ``text`` and check the instrument accepted it."""
        with self._calls(f"'{text}'", self.spec.timeout_ms):
            self.resource.write(text)
        self.check(text)

    def write_raw(self, message: bytes, what: str) -> None:
        """Send ``message`` (plus the write termination) as is, e.g. a command with a binary block; ``what`` names
        it in messages."""
        term = (self.spec.write_termination or "").encode()
        with self._calls(f"'{what}'", self.spec.timeout_ms):
            self.resource.write_raw(message + term)
        self.check(what)

    def query(self, text: str, expect: str | None = None, timeout_s: float | None = None) -> str:
        """The reply to ``text``, which must equal ``expect`` when given; then check errors."""
        reply = self.ask(text, timeout_s, hint="check that the operation it waits for can complete (armed, "
                                               "triggered)")
        if expect is not None and reply.upper() != expect.strip().upper():
            raise InstrumentError(f"{self.where} answered '{text}' with '{reply}', expected '{expect}'")
        self.check(text)
        return reply

    def poll(self, step: PollStep, timeout_s: float) -> str:
        """Ask ``step.text`` until its reply meets ``step``'s condition; :class:`InstrumentTimeoutError` after
        ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        want = f"& {step.mask} == {step.equals}" if step.mask is not None else f"== {step.equals!r}"
        while True:
            reply = self.ask(step.text)
            if self._meets(reply, step):
                break
            if time.monotonic() > deadline:
                raise InstrumentTimeoutError(
                    f"{self.where} still answers '{step.text}' with '{reply}' after {timeout_s:.3g} s, waiting for "
                    f"{want}; check the trigger (source, cabling, level) and that the instrument was armed, or raise "
                    "the step's timeout_s")
            if step.interval_s:
                time.sleep(step.interval_s)
        self.check(step.text)
        return reply

    def _meets(self, reply: str, step: PollStep) -> bool:
        if isinstance(step.equals, str):
            return reply.strip().strip('"').upper() == step.equals.upper()
        try:
            value = float(reply)
        except ValueError:
            raise InstrumentError(f"{self.where} answered '{step.text}' with '{reply}', not a number; turn response "
                                  "headers off or compare with a string in 'until: {equals: ...}'") from None
        if step.mask is not None:
            return (int(value) & step.mask) == int(step.equals)
        return value == float(step.equals)

    # -- data -------------------------------------------------------------------------------------------------------
    def read_values(self, text: str, encoding: Encoding, timeout_s: float | None = None) -> np.ndarray:
        """Ask ``text`` and decode the reply (a binary block or an ASCII list) into float64 values."""
        ms = self._ms(timeout_s)
        with self._timeout(ms):
            with self._calls(f"'{text}'", ms, hint="check that the acquisition completed"):
                self.resource.write(text)
            if encoding.format == "ascii":
                with self._calls(f"the reply to '{text}'", ms):
                    reply = self.resource.read()
                values = parse_ascii(reply, encoding.separator)
            else:
                values = unpack_values(self._read_block(text, ms), encoding.dtype, encoding.byte_order)
        self.check(text)
        return values

    def _read_block(self, text: str, ms: int) -> bytes:
        what = f"the reply to '{text}'"
        try:
            with self._calls(what, ms, hint="check that the acquisition completed"):
                buf = bytearray(self.resource.read_raw())
                head = block_header(buf)
                while head is None:  # the header itself arrived in pieces
                    buf += self.resource.read_raw()
                    head = block_header(buf)
        except BlockFormatError as exc:
            raise self._bad_block(text, str(exc)) from None
        offset, length = head
        missing = offset + length - len(buf)
        if missing > 0:
            try:
                with self._calls(what, ms):
                    buf += self.resource.read_bytes(missing)
            except InstrumentTimeoutError:
                raise BlockFormatError(
                    f"{self.where} sent a short binary block for '{text}': its header declares {length:,d} bytes, "
                    f"{len(buf) - offset:,d} arrived before the {ms} ms timeout; check the cable/link and the "
                    "instrument's transfer settings") from None
        payload, rest = decode_block(buf)
        term = (self.spec.read_termination or "").encode()
        if not rest and term:
            with self._calls(f"the end of {what}", ms):
                rest = self.resource.read_bytes(len(term))
        if rest.strip(b"\r\n"):
            raise self._bad_block(text, f"{len(rest)} bytes follow the binary block ({rest[:16]!r}...): the block is "
                                        "longer than its header says; check the data width setting")
        return payload

    def _bad_block(self, text: str, detail: str) -> BlockFormatError:
        return BlockFormatError(f"{self.where}, reply to '{text}': {detail}{self._resync()}")

    def scale_factor(self, sources: tuple[Source, ...], replies: dict[str, str]) -> float:
        """The sum of ``sources``; query replies are taken from (and added to) ``replies``."""
        total = 0.0
        for s in sources:
            if s.query is None:
                total += float(s.value or 0.0)
                continue
            if s.query not in replies:
                replies[s.query] = self.query(s.query)
            fields = replies[s.query].split(",")
            try:
                total += float(fields[s.field])
            except (IndexError, ValueError):
                raise InstrumentError(f"{self.where} answered '{s.query}' with '{replies[s.query][:80]}': field "
                                      f"{s.field} is not a number; check the scale's field index and that response "
                                      "headers are off") from None
        return total

    # -- errors -----------------------------------------------------------------------------------------------------
    def check(self, after: str) -> None:
        """Raise :class:`CommandRejectedError` when the instrument reports an error after ``after``."""
        spec = self.spec.errors
        if spec is None:
            return
        entries = self._error_entries()
        if entries:
            model = self.idn.split(",")[1].strip() if self.idn.count(",") >= 1 else "the instrument"
            raise CommandRejectedError(
                f"{self.where} reported {'; '.join(entries)} after '{after}'; check the command's spelling and "
                f"arguments (ranges, units, order of setup) against the {model} programming manual")

    def _error_entries(self) -> list[str]:
        spec = self.spec.errors
        assert spec is not None
        if spec.esr is not None:
            esr = self.ask(spec.esr)
            try:
                bits = int(float(esr))
            except ValueError:
                raise InstrumentError(f"{self.where} answered '{spec.esr}' with '{esr}', not an integer; check "
                                      "'errors.esr' in the chain file") from None
            if not bits & ESR_ERROR_BITS:
                return []
        entries = []
        for _ in range(spec.max_entries):
            reply = self.ask(spec.query)
            m = _LEADING_INT.match(reply)
            if m is None:
                raise InstrumentError(f"{self.where} answered '{spec.query}' with '{reply}', not '<code>,\"<message>\"'"
                                      "; set 'errors' for this instrument in the chain file (or 'errors: false')")
            if int(m.group(1)) in spec.ok:
                break
            entries.append(reply)
        if spec.esr is not None and not entries:
            entries.append(f"{spec.esr} error bits {bits & ESR_ERROR_BITS:#x}")
        return entries

    # -- life cycle ---------------------------------------------------------------------------------------------------
    def describe(self) -> str:
        """One line: role, resource, identity."""
        stale = f"  (errors queued before connecting: {'; '.join(self.stale_errors)})" if self.stale_errors else ""
        return f"{self.role:<8s} {self.spec.resource}  {self.idn or '(not identified)'}{stale}"

    def close(self) -> list[str]:
        """Send the teardown commands and close the resource; returns the problems met (never raises them)."""
        problems = []
        for text in self.spec.teardown:
            try:
                self.command(text)
            except InstrumentError as exc:
                problems.append(str(exc))
        try:
            self.resource.close()
        except self._visa.errors.VisaIOError as exc:
            problems.append(f"{self.where}: close failed ({exc.description})")
        return problems
