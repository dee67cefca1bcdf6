"""The VISA library a chain talks through: the one the chain file names (``visa_library``: ``""`` for
PyVISA's default, ``"@py"`` for pyvisa-py, ``"/path/to/visa.so@ivi"``...), or the simulated bench of its
``simulation`` file when the chain is opened with ``simulate=True``."""

from __future__ import annotations

from typing import Any

from hwsim.errors import ConfigError, NotSupportedError
from hwsim.instruments.session import pyvisa_module
from hwsim.instruments.spec import ChainSpec


def open_resource_manager(spec: ChainSpec, simulate: bool = False, seed: int | None = None) -> Any:
    """A ``pyvisa.ResourceManager`` for the chain ``spec``: its simulated bench (fresh, seeded) or its VISA library."""
    pyvisa = pyvisa_module()
    if simulate:
        if spec.simulation is None:
            raise ConfigError(f"{spec.path}: the chain file names no 'simulation' bench; add e.g. "
                              "'simulation: keysight-awg-scope' or open it without simulate=true")
        try:
            from hwsim.instruments.sim.library import open_bench_library
        except ImportError as exc:
            raise NotSupportedError(f"simulated instrument chains need pyvisa-sim ({exc}): pip install "
                                    "'hwsim[instruments]'") from None
        return pyvisa.ResourceManager(open_bench_library(spec.simulation, seed))
    if seed is not None:
        raise ConfigError("seed sets the simulated bench's noise; it applies only with simulate=true")
    try:
        return pyvisa.ResourceManager(spec.visa_library)
    except (OSError, ValueError) as exc:
        raise NotSupportedError(
            f"cannot open the VISA library '{spec.visa_library or '(PyVISA default)'}': {exc}; install a VISA "
            "implementation (Keysight IO Libraries, NI-VISA) or pyvisa-py ('pip install pyvisa-py' and "
            "visa_library: '@py' in the chain file)") from None
