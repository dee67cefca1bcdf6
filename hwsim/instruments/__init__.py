"""Existing lab instruments as physical layers: a chain of VISA/SCPI instruments (an arbitrary waveform
generator, the system it drives, an oscilloscope...) declared in a YAML or TOML file and measured as one
:class:`hwsim.Device`.

``create_device("visa?config=<chain file or shipped name>")`` builds a :class:`VisaChain`; add
``&simulate=true`` to run it against its simulated bench (pyvisa-sim instruments around a physical
system). PyVISA, pyvisa-sim and PyYAML (``pip install 'hwsim[instruments]'``) are imported only when a
chain is opened. See docs/instruments.md.
"""

from hwsim.instruments.chain import VisaChain
from hwsim.instruments.errors import (BlockFormatError, ChainFileError, CommandRejectedError, IdentityMismatchError,
                                      InstrumentError, InstrumentNotFoundError, InstrumentTimeoutError)
from hwsim.instruments.spec import ChainSpec, load_chain, shipped_chains

__all__ = ["VisaChain", "ChainSpec", "load_chain", "shipped_chains", "InstrumentError", "InstrumentNotFoundError",
           "IdentityMismatchError", "CommandRejectedError", "InstrumentTimeoutError", "BlockFormatError",
           "ChainFileError"]
