"""hwsim: the hardware boundary. One Device interface for simulators, wrappers and lab boards."""

from hwsim.device import Device, DeviceInfo, DeviceWrapper
from hwsim.errors import (ConfigError, DataError, DeviceError, HwsimError, NotSupportedError, ShapeError,
                          TransientDeviceError)

__version__ = "0.1.0"

__all__ = ["Device", "DeviceInfo", "DeviceWrapper", "HwsimError", "ShapeError", "DeviceError",
           "NotSupportedError", "DataError", "ConfigError", "TransientDeviceError", "__version__"]


def _register_serial_urls() -> None:
    """Let ``serial.serial_for_url`` open ``sim://`` URLs once hwsim is imported."""
    import serial

    if "hwsim.urlhandler" not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append("hwsim.urlhandler")


_register_serial_urls()
