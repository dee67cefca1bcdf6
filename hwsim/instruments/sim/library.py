"""A pyvisa-sim VISA library whose AWG and oscilloscope are live: a simulation file is a pyvisa-sim
definitions file (identity, error queues, status registers and static settings as dialogues and
properties) plus a ``hwsim_bench`` section naming the two instruments' models and the device under test
(:mod:`hwsim.instruments.sim.bench`). The commands a model knows (waveform upload, trigger, acquisition,
waveform data, preamble) are answered by it; every other command falls through to pyvisa-sim, whose
unknown-command handling fills the error queue as a real instrument's would.

The host opens it through the public API only: ``pyvisa.ResourceManager(open_bench_library(path))``.
Each call builds a fresh bench (its own noise generator and acquisition state), so two chains never share
one. This module imports pyvisa-sim at its top; it is itself imported only when a chain is simulated.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from pyvisa import constants, rname
from pyvisa.errors import VisaIOError
from pyvisa_sim import parser
from pyvisa_sim.component import NoResponse
from pyvisa_sim.devices import Device as PyvisaSimDevice
from pyvisa_sim.highlevel import SimVisaLibrary

from hwsim.instruments.errors import BlockFormatError, ChainFileError
from hwsim.instruments.sim.awg import Keysight33500, SimAWG, TektronixAFG31000
from hwsim.instruments.sim.bench import Bench, SimError, read_bench_config
from hwsim.instruments.sim.model import NOT_MINE, SimModel
from hwsim.instruments.sim.scope import KeysightInfiniiVision, SimScope, TektronixMSO
from hwsim.instruments.sim.scpi import split_command, split_message
from hwsim.instruments.spec import read_document

# model name in a bench file -> class
MODELS: dict[str, type[SimModel]] = {
    "keysight-33500": Keysight33500, "tektronix-afg31000": TektronixAFG31000,
    "keysight-infiniivision": KeysightInfiniiVision, "tektronix-mso": TektronixMSO,
}
# error-queue entries the models raise; every simulated instrument's YAML must define each one
ERROR_KEYS = ("command_error", "data_type", "illegal_parameter", "missing_parameter", "block_error",
              "data_out_of_range", "settings_conflict", "no_data")
_TOKEN = "#hwsim-bench-"
_instances = itertools.count()
_pending: dict[str, tuple[Path, int | None]] = {}


class SimInstrument(PyvisaSimDevice):
    """A pyvisa-sim device answered first by a :class:`SimModel` (the class of a parsed device is switched to
    this one when its model is attached, so pyvisa-sim's own parsing builds everything else)."""

    model: SimModel

    def attach(self, model: SimModel) -> None:
        """Let ``model`` answer this device's commands and push its late replies."""
        self.model = model
        model.reply = self.push

    def write(self, data: bytes) -> None:
        """Take bytes from the host; run each command once a whole message (blocks included) has arrived."""
        self._input_buffer.extend(data)
        eom = self._query_eom
        if not self._input_buffer.endswith(eom):
            return
        message = bytes(self._input_buffer[:len(self._input_buffer) - len(eom)])
        try:
            commands = split_message(message)
        except BlockFormatError:
            commands = [b""]
        if commands is None:  # the terminator was block payload: the rest is still coming
            return
        self._input_buffer = bytearray()
        for command in commands:
            self._respond(command)

    def _respond(self, command: bytes) -> None:
        if not command:
            self.error_response("block_error")
            return
        header, args = split_command(command)
        if header.upper() == "*CLS":
            for queue in self._error_queues.values():
                queue.clear()
            for register in self._status_registers.values():
                register.clear()
            return
        try:
            reply = self.model.handle(header, args)
        except SimError as exc:
            self.error_response(exc.key)
            return
        if reply is NOT_MINE:
            try:
                reply = self._match(command)
            except (UnicodeDecodeError, ValueError):
                reply = None
            if reply is None:
                self.error_response("command_error")
                return
            if reply is NoResponse:
                return
        if reply is not None:
            self.push(bytes(reply))

    def push(self, reply: bytes) -> None:
        """Queue ``reply`` (plus the response terminator) for the host to read."""
        self._output_buffers.append(bytearray(reply) + self._response_eom)

    def device_clear(self) -> None:
        """IEEE 488.2 device clear: empty the input and output buffers, drop replies still to come."""
        self._input_buffer = bytearray()
        self._output_buffers.clear()
        self.model.cancel()


class BenchLibrary(SimVisaLibrary):
    """pyvisa-sim's library with the bench of one simulation file attached to its AWG and scope."""

    bench: Bench

    def _init(self) -> None:
        path, seed = _pending.pop(str(self.library_path))
        self.sessions = {}
        try:
            self.devices = parser.get_devices(path, False)
        except Exception as exc:  # noqa: BLE001 -- pyvisa-sim raises bare Exception for malformed definitions
            raise ChainFileError(f"{path}: pyvisa-sim cannot read the instrument definitions: {exc}") from None
        raw = read_document(path)
        cfg = read_bench_config(raw.get("hwsim_bench") if isinstance(raw, dict) else None, path, tuple(MODELS))
        self.bench = Bench(cfg, seed)
        for role, resource, model, base in (("awg", cfg.awg_resource, cfg.awg_model, SimAWG),
                                            ("scope", cfg.scope_resource, cfg.scope_model, SimScope)):
            if not issubclass(MODELS[model], base):
                raise ChainFileError(f"{path}: hwsim_bench.{role} is model '{model}', which is not a simulated {role}")
            try:
                device = self.devices[rname.to_canonical_name(resource)]
            except KeyError:
                raise ChainFileError(f"{path}: hwsim_bench.{role} names resource '{resource}', which is not in the "
                                     "file's 'resources'") from None
            _check_error_keys(raw, device.name, path)
            device.__class__ = SimInstrument
            device.attach(MODELS[model](self.bench))

    def open(self, session: Any, resource_name: str, *args: Any, **kwargs: Any) -> tuple[Any, constants.StatusCode]:
        """``viOpen``, raising for a resource that is not there as a real VISA library does (pyvisa-sim only
        returns the error status)."""
        handle, status = super().open(session, resource_name, *args, **kwargs)
        if status < 0:
            raise VisaIOError(status)
        return handle, status

    def clear(self, session: Any) -> constants.StatusCode:
        """Device clear (``viClear``) of one session."""
        try:
            device = self.sessions[session].device
        except (KeyError, AttributeError):
            return constants.StatusCode.error_invalid_object
        if isinstance(device, SimInstrument):
            device.device_clear()
        return constants.StatusCode.success


def _check_error_keys(raw: dict[str, Any], device: str, path: Path) -> None:
    error = raw.get("devices", {}).get(device, {}).get("error", {})
    queues = error.get("error_queue", []) if isinstance(error, dict) else []
    for queue in queues:
        missing = [k for k in ERROR_KEYS if k not in queue]
        if missing:
            raise ChainFileError(f"{path}: the error queue '{queue.get('q')}' of device '{device}' needs entries for "
                                 f"{missing} (the messages the simulated instrument reports)")
    if not queues:
        raise ChainFileError(f"{path}: device '{device}' needs an error queue (error: error_queue: [...]) so its "
                             "simulated errors can be read back")


def open_bench_library(path: Path, seed: int | None = None) -> BenchLibrary:
    """A fresh :class:`BenchLibrary` for the simulation file ``path``; ``seed`` overrides its noise seed."""
    key = f"{path}{_TOKEN}{next(_instances)}"
    _pending[key] = (Path(path), seed)
    try:
        return BenchLibrary(key)
    finally:
        _pending.pop(key, None)
