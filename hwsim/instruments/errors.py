"""The faults an instrument chain can meet, each a :class:`hwsim.errors.HwsimError` with a sentence.

Instrument faults are :class:`hwsim.errors.DeviceError` subclasses (the device failed while doing what it
was asked; a served chain reports them to the host as device errors); a chain file that cannot work is a
:class:`hwsim.errors.ConfigError`.
"""

from __future__ import annotations

from hwsim.errors import ConfigError, DeviceError


class ChainFileError(ConfigError):
    """The chain file is missing, unreadable, or declares something that cannot work."""


class InstrumentError(DeviceError):
    """An instrument of a VISA chain failed, misbehaved or answered something unexpected."""


class InstrumentNotFoundError(InstrumentError):
    """The resource string names no instrument the VISA library can open."""


class IdentityMismatchError(InstrumentError):
    """``*IDN?`` answered something the chain file does not accept: the wrong instrument at that address."""


class CommandRejectedError(InstrumentError):
    """The instrument's error queue (``SYST:ERR?``) or event status reported an error after a command."""


class InstrumentTimeoutError(InstrumentError):
    """The instrument did not answer (or a polled condition did not come true) within the timeout."""


class BlockFormatError(InstrumentError):
    """An IEEE 488.2 binary block (or an ASCII list) from the instrument is short or malformed."""
